"""Catalog pages: products and sites, and the admin's form to add a product."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from backhaul.catalog import service
from backhaul.catalog.models import Battery, Regulated
from backhaul.catalog.schemas import ProductIn
from backhaul.kit.errors import DomainError, Forbidden, NotAuthenticated, NotFound
from backhaul.kit.http import DbSession
from backhaul.web.common import CsrfChecked, PageActor, flash, render

router = APIRouter(prefix="/catalog", include_in_schema=False)
FormText = Annotated[str, Form(max_length=500)]


@router.get("/products")
def products(request: Request, session: DbSession, actor: PageActor) -> Response:
    """Every product you may see."""
    return render(
        request,
        "products.html",
        actor,
        products=service.list_products(session, actor),
        brands=service.list_brands(session, actor),
        regulated=list(Regulated),
        batteries=list(Battery),
        form={},
        errors={},
    )


@router.post("/products", dependencies=[CsrfChecked])
def add_product(
    request: Request,
    session: DbSession,
    actor: PageActor,
    brand: FormText = "",
    sku: FormText = "",
    name: FormText = "",
    family: FormText = "",
    category: FormText = "",
    serial_pattern: FormText = "",
    regulated: FormText = "none",
    battery: FormText = "li_ion",
    weight_g: FormText = "",
    msrp: FormText = "",
    currency: FormText = "",
    hs_code: FormText = "",
    warranty_months: FormText = "12",
) -> Response:
    """Add a product from the form; on a mistake, show the form again with the field named."""
    form = {
        "brand": brand or None,
        "sku": sku,
        "name": name,
        "family": family,
        "category": category,
        "serial_pattern": serial_pattern,
        "regulated": regulated,
        "battery": battery,
        "weight_g": weight_g,
        "msrp": msrp,
        "currency": currency,
        "hs_code": hs_code,
        "warranty_months": warranty_months,
    }
    errors: dict[str, str] = {}
    try:
        product = service.create_product(session, actor, ProductIn.model_validate(form))
    except ValidationError as error:
        errors = {str(e["loc"][0]) if e["loc"] else "form": e["msg"] for e in error.errors()}
    except (NotAuthenticated, Forbidden, NotFound):
        raise  # not a mistake in the form: the error page, with its status
    except DomainError as error:
        errors = {error.field or "form": error.detail}
    if errors:
        return render(
            request,
            "products.html",
            actor,
            status=422,
            products=service.list_products(session, actor),
            brands=service.list_brands(session, actor),
            regulated=list(Regulated),
            batteries=list(Battery),
            form=form,
            errors=errors,
        )
    flash(request, f"Product {product.sku} added.")
    return RedirectResponse("/catalog/products", status_code=303)


@router.get("/sites")
def sites(request: Request, session: DbSession, actor: PageActor) -> Response:
    """Every site you may see."""
    return render(request, "sites.html", actor, sites=service.list_sites(session, actor))

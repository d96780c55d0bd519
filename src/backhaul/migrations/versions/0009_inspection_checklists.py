"""Inspection checklists per product (versioned) and unit photos taken at inspection

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inspection_checklists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("accessories", sa.JSON(), nullable=False),
        sa.Column("cosmetic_points", sa.JSON(), nullable=False),
        sa.Column("packaging_check", sa.Boolean(), nullable=False),
        sa.Column("battery_check", sa.Boolean(), nullable=False),
        sa.Column("photos_required", sa.Integer(), nullable=False),
        sa.Column("cosmetic_criteria", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_inspection_checklists_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_checklists")),
        sa.UniqueConstraint(
            "product_id", "version", name=op.f("uq_inspection_checklists_product_id_version")
        ),
    )
    with op.batch_alter_table("inspection_checklists", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_checklists_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "unit_photos",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("unit_id", BIG_ID, nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_unit_photos_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_unit_photos_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["step_id"], ["unit_steps.id"], name=op.f("fk_unit_photos_step_id_unit_steps")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_photos_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_photos")),
    )
    with op.batch_alter_table("unit_photos", schema=None) as batch_op:
        batch_op.create_index("ix_unit_photos_unit", ["unit_id", "uploaded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unit_photos", schema=None) as batch_op:
        batch_op.drop_index("ix_unit_photos_unit")
    op.drop_table("unit_photos")
    with op.batch_alter_table("inspection_checklists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_checklists_product_id"))
    op.drop_table("inspection_checklists")

"""Unit lifecycle: step records, certificates, firmware releases, test plans, idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:30:42.263280
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("principal", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "firmware_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "current",
                "supported",
                "deprecated",
                "blocked",
                name="release_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_firmware_releases_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_releases")),
        sa.UniqueConstraint(
            "product_id", "version", name=op.f("uq_firmware_releases_product_id_version")
        ),
    )
    with op.batch_alter_table("firmware_releases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_firmware_releases_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "test_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_test_plans_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_plans")),
        sa.UniqueConstraint("product_id", "version", name=op.f("uq_test_plans_product_id_version")),
    )
    with op.batch_alter_table("test_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_plans_product_id"), ["product_id"], unique=False)

    op.create_table(
        "unit_steps",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("from_position", sa.String(length=40), nullable=False),
        sa.Column("to_position", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.String(length=1000), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_unit_steps_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_steps_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_steps")),
        sa.UniqueConstraint("unit_id", "seq", name=op.f("uq_unit_steps_unit_id_seq")),
    )
    op.create_table(
        "sanitization_certificates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["unit_steps.id"],
            name=op.f("fk_sanitization_certificates_step_id_unit_steps"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_sanitization_certificates_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanitization_certificates")),
        sa.UniqueConstraint("step_id", name=op.f("uq_sanitization_certificates_step_id")),
    )
    with op.batch_alter_table("sanitization_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sanitization_certificates_unit_id"), ["unit_id"], unique=False
        )

    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "route",
                sa.Enum(
                    "restock",
                    "repair",
                    "return_to_customer",
                    "harvest",
                    "recycle",
                    "write_off",
                    "quarantine",
                    name="route",
                    native_enum=False,
                    length=30,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("condition", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("may_sell_as_new", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("ever_activated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("hazard", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("firmware_version", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("step_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("step_count")
        batch_op.drop_column("firmware_version")
        batch_op.drop_column("hazard")
        batch_op.drop_column("ever_activated")
        batch_op.drop_column("may_sell_as_new")
        batch_op.drop_column("condition")
        batch_op.drop_column("route")

    with op.batch_alter_table("sanitization_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sanitization_certificates_unit_id"))

    op.drop_table("sanitization_certificates")
    op.drop_table("unit_steps")
    with op.batch_alter_table("test_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_plans_product_id"))

    op.drop_table("test_plans")
    with op.batch_alter_table("firmware_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_firmware_releases_product_id"))

    op.drop_table("firmware_releases")
    op.drop_table("idempotency_records")

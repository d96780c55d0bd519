"""Console overrides: per-site wait targets, and override requests (pending, approved,
rejected) for a supervisor

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "override_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("unit_version", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("route", "failed_step", name="override_kind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("step", sa.String(length=30), nullable=True),
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
        ),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                name="override_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_override_requests_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_override_requests_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_override_requests_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_override_requests")),
    )
    with op.batch_alter_table("override_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_override_requests_status", ["status", "requested_at"], unique=False
        )
        batch_op.create_index("ix_override_requests_unit", ["unit_id"], unique=False)

    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wait_target_hours", sa.Float(), server_default="24", nullable=False)
        )
        batch_op.add_column(
            sa.Column("step_wait_targets", sa.JSON(), server_default="{}", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("step_wait_targets")
        batch_op.drop_column("wait_target_hours")

    with op.batch_alter_table("override_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_override_requests_unit")
        batch_op.drop_index("ix_override_requests_status")

    op.drop_table("override_requests")

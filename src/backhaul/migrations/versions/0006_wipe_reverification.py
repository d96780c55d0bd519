"""Wipe re-verification: the passed wipes drawn at random to be re-verified by another person

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wipe_reverifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "unit_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("certificate_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("share", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wiped_by", sa.String(length=200), nullable=False),
        sa.Column("wiped_by_id", sa.Integer(), nullable=True),
        sa.Column("wipe_verified_by", sa.String(length=80), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "passed",
                "failed",
                "superseded",
                name="reverification_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("performed_by", sa.String(length=200), nullable=True),
        sa.Column("performed_by_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=True),
        sa.Column("tool", sa.String(length=120), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "exception_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_wipe_reverifications_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["sanitization_certificates.id"],
            name=op.f("fk_wipe_reverifications_certificate_id_sanitization_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_wipe_reverifications_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_wipe_reverifications_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wipe_reverifications")),
        sa.UniqueConstraint("certificate_id", name=op.f("uq_wipe_reverifications_certificate_id")),
    )
    with op.batch_alter_table("wipe_reverifications", schema=None) as batch_op:
        batch_op.create_index("ix_wipe_reverifications_queue", ["status", "site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_wipe_reverifications_unit_id"), ["unit_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("wipe_reverifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wipe_reverifications_unit_id"))
        batch_op.drop_index("ix_wipe_reverifications_queue")

    op.drop_table("wipe_reverifications")

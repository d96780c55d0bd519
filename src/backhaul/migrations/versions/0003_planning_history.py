"""Planning: imported weekly sales and returns history (planning_history)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:04:07.592797
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "planning_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("sales", "returns", name="history_kind", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("fault_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_planning_history_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_planning_history_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_history")),
        sa.UniqueConstraint(
            "product_id",
            "kind",
            "region",
            "week",
            "fault_code",
            "source",
            name="uq_planning_history_row",
        ),
    )
    with op.batch_alter_table("planning_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_planning_history_brand_kind_week", ["brand_id", "kind", "week"], unique=False
        )
        batch_op.create_index("ix_planning_history_source", ["source", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("planning_history", schema=None) as batch_op:
        batch_op.drop_index("ix_planning_history_source")
        batch_op.drop_index("ix_planning_history_brand_kind_week")

    op.drop_table("planning_history")

"""Returns intake: return cases, carrier tracking events and webhooks, published policies,
the intake log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 01:07:51.377671
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carrier_webhooks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("carrier", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("tracking_code", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carrier_webhooks")),
        sa.UniqueConstraint(
            "carrier", "event_id", name=op.f("uq_carrier_webhooks_carrier_event_id")
        ),
    )
    op.create_table(
        "return_intake_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=60), nullable=True),
        sa.Column("policy_version", sa.String(length=40), nullable=True),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("sku", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_intake_log")),
    )
    with op.batch_alter_table("return_intake_log", schema=None) as batch_op:
        batch_op.create_index("ix_return_intake_log_at", ["at"], unique=False)

    op.create_table(
        "return_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_policies")),
        sa.UniqueConstraint("region", "version", name=op.f("uq_return_policies_region_version")),
    )
    with op.batch_alter_table("return_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_return_policies_region"), ["region"], unique=False)

    op.create_table(
        "return_cases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rma", sa.String(length=20), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("order_ref", sa.String(length=64), nullable=False),
        sa.Column("customer_email", sa.String(length=254), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("customer_address", sa.String(length=500), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("reason_note", sa.String(length=1000), nullable=False),
        sa.Column("resolution", sa.String(length=30), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "on_hold",
                "label_ready",
                "in_transit",
                "delivered",
                "received",
                "resolved",
                "cancelled",
                name="case_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("destination_site_id", sa.Integer(), nullable=True),
        sa.Column("routing", sa.JSON(), nullable=False),
        sa.Column("ground_only", sa.Boolean(), nullable=False),
        sa.Column("cross_border", sa.Boolean(), nullable=False),
        sa.Column("shipping_method", sa.String(length=10), nullable=False),
        sa.Column("battery_answer", sa.String(length=12), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=True),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("setup_help", sa.String(length=20), nullable=True),
        sa.Column("declared_value", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("declared_currency", sa.String(length=3), nullable=False),
        sa.Column("hs_code", sa.String(length=12), nullable=False),
        sa.Column("carrier", sa.String(length=40), nullable=True),
        sa.Column("tracking_number", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("in_transit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_note", sa.String(length=500), nullable=True),
        sa.Column("survey_score", sa.Integer(), nullable=True),
        sa.Column("survey_comment", sa.String(length=2000), nullable=True),
        sa.Column("survey_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_return_cases_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["destination_site_id"],
            ["sites.id"],
            name=op.f("fk_return_cases_destination_site_id_sites"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_return_cases_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_cases")),
        sa.UniqueConstraint("rma", name=op.f("uq_return_cases_rma")),
        sa.UniqueConstraint("tracking_number", name=op.f("uq_return_cases_tracking_number")),
    )
    with op.batch_alter_table("return_cases", schema=None) as batch_op:
        batch_op.create_index("ix_return_cases_serial", ["serial"], unique=False)
        batch_op.create_index("ix_return_cases_status", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_return_cases_unit", ["unit_id"], unique=False)

    op.create_table(
        "return_tracking_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("carrier", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("status_detail", sa.String(length=60), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["return_cases.id"],
            name=op.f("fk_return_tracking_events_case_id_return_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_tracking_events")),
        sa.UniqueConstraint(
            "case_id", "detail_key", name=op.f("uq_return_tracking_events_case_id_detail_key")
        ),
    )
    with op.batch_alter_table("return_tracking_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_return_tracking_events_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("return_tracking_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_tracking_events_case_id"))

    op.drop_table("return_tracking_events")
    with op.batch_alter_table("return_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_return_cases_unit")
        batch_op.drop_index("ix_return_cases_status")
        batch_op.drop_index("ix_return_cases_serial")

    op.drop_table("return_cases")
    with op.batch_alter_table("return_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_policies_region"))

    op.drop_table("return_policies")
    with op.batch_alter_table("return_intake_log", schema=None) as batch_op:
        batch_op.drop_index("ix_return_intake_log_at")

    op.drop_table("return_intake_log")
    op.drop_table("carrier_webhooks")

"""Test rigs at sites and their calibration records (firmware images live on disk, by hash)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_rigs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_test_rigs_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_rigs")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_test_rigs_site_id_code")),
    )
    with op.batch_alter_table("test_rigs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_rigs_site_id"), ["site_id"], unique=False)

    op.create_table(
        "rig_calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rig_id", sa.Integer(), nullable=False),
        sa.Column("calibrated_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("certificate_ref", sa.String(length=80), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rig_id"], ["test_rigs.id"], name=op.f("fk_rig_calibrations_rig_id_test_rigs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rig_calibrations")),
    )
    with op.batch_alter_table("rig_calibrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rig_calibrations_rig_id"), ["rig_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rig_calibrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rig_calibrations_rig_id"))
    op.drop_table("rig_calibrations")
    with op.batch_alter_table("test_rigs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_rigs_site_id"))
    op.drop_table("test_rigs")

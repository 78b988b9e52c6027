"""scheduling: availability windows, appointments, booked blocks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import infra.db.tables

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('availability_windows',
    sa.Column('doctor_id', sa.String(length=36), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('end_minute', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('doctor_id', 'weekday', 'start_minute',
                            name=op.f('pk_availability_windows'))
    )
    op.create_table('appointments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=36), nullable=False),
    sa.Column('doctor_id', sa.String(length=36), nullable=False),
    sa.Column('starts_at', infra.db.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', infra.db.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', infra.db.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', infra.db.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index('ix_appointments_doctor_id_starts_at', ['doctor_id', 'starts_at'],
                              unique=False)
        batch_op.create_index('ix_appointments_patient_id_starts_at', ['patient_id', 'starts_at'],
                              unique=False)

    op.create_table('appointment_blocks',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('block_start', infra.db.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('appointment_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'],
                            name=op.f('fk_appointment_blocks_appointment_id_appointments'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'block_start', name=op.f('pk_appointment_blocks'))
    )
    with op.batch_alter_table('appointment_blocks', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_blocks_appointment_id', ['appointment_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('appointment_blocks', schema=None) as batch_op:
        batch_op.drop_index('ix_appointment_blocks_appointment_id')
    op.drop_table('appointment_blocks')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('ix_appointments_patient_id_starts_at')
        batch_op.drop_index('ix_appointments_doctor_id_starts_at')
    op.drop_table('appointments')
    op.drop_table('availability_windows')

# The managers' models move from governance to insights in Django's state only: every table keeps
# the name governance gave it (db_table) and its rows; governance/0009 removes them from its state.

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('governance', '0008_auditevent_moved_to_core'),
        ('servicedesk', '0007_sla_pause'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='DriftCheck',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('dimension', models.CharField(max_length=32)),
                        ('window_start', models.DateTimeField()),
                        ('window_end', models.DateTimeField()),
                        ('reference_start', models.DateTimeField()),
                        ('reference_end', models.DateTimeField()),
                        ('psi', models.FloatField()),
                        ('chi2', models.FloatField()),
                        ('p_value', models.FloatField()),
                        ('drifted', models.BooleanField()),
                        ('data', models.JSONField(blank=True, default=dict, help_text='Both distributions, by bin.')),
                        ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                    ],
                    options={
                        'db_table': 'governance_driftcheck',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='BacktestRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('period_start', models.DateField()),
                        ('period_end', models.DateField(help_text='Inclusive.')),
                        ('queue', models.CharField(blank=True, help_text='Queue slug; empty: every queue.', max_length=50)),
                        ('limit', models.PositiveIntegerField(blank=True, help_text='At most this many tickets.', null=True)),
                        ('overrides', models.JSONField(blank=True, default=dict, help_text='What-if catalog changes, never saved.')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=16)),
                        ('error', models.CharField(blank=True, max_length=500)),
                        ('total', models.PositiveIntegerField(default=0)),
                        ('processed', models.PositiveIntegerField(default=0)),
                        ('summary', models.JSONField(blank=True, default=dict, help_text='Counts by change, action and queue.')),
                        ('agent', models.JSONField(blank=True, default=dict, help_text='AGENT_LLM, its role, the embedding model.')),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'governance_backtestrun',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Baseline',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('source', models.CharField(choices=[('computed', 'Computed from tickets'), ('manual', 'Entered by hand')], max_length=16)),
                        ('period_start', models.DateField(blank=True, null=True)),
                        ('period_end', models.DateField(blank=True, help_text='Inclusive.', null=True)),
                        ('monthly_volume', models.FloatField(help_text='Tickets per 30 days.')),
                        ('cycle_time_hours', models.FloatField(help_text='Median (p50) time from creation to resolution.')),
                        ('error_rate', models.FloatField(help_text='Share of resolved tickets reopened within 7 days or marked wrong.')),
                        ('staff_hours_monthly', models.FloatField(help_text='Service-desk hours per 30 days.')),
                        ('escalation_rate', models.FloatField(help_text='Share of tickets handed to a human queue.')),
                        ('notes', models.CharField(blank=True, max_length=500)),
                        ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'governance_baseline',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='DailyRollup',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('queue', models.CharField(blank=True, help_text='Queue slug; empty when none.', max_length=50)),
                        ('action', models.CharField(blank=True, help_text='Catalog action; empty when none.', max_length=64)),
                        ('resolver', models.CharField(blank=True, help_text='agent, staff, or empty (unresolved).', max_length=16)),
                        ('tickets', models.PositiveIntegerField(default=0)),
                        ('autonomous', models.PositiveIntegerField(default=0)),
                        ('escalated', models.PositiveIntegerField(default=0)),
                        ('agent_resolved', models.PositiveIntegerField(default=0)),
                        ('agent_errors', models.PositiveIntegerField(default=0)),
                        ('approvals_requested', models.PositiveIntegerField(default=0)),
                        ('approvals_decided', models.PositiveIntegerField(default=0)),
                        ('approvals_granted', models.PositiveIntegerField(default=0)),
                        ('resolved', models.PositiveIntegerField(default=0)),
                        ('errors', models.PositiveIntegerField(default=0, help_text='Resolved tickets (any resolver) in error.')),
                        ('cycle_seconds_sum', models.BigIntegerField(default=0)),
                        ('cycle_sample', models.JSONField(blank=True, default=list, help_text='Sorted cycle times (s), capped.')),
                        ('staff_seconds', models.BigIntegerField(default=0)),
                        ('built_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                    ],
                    options={
                        'db_table': 'governance_dailyrollup',
                        'ordering': ['day', 'queue', 'action', 'resolver'],
                        'constraints': [models.UniqueConstraint(fields=('day', 'queue', 'action', 'resolver'), name='rollup_one_cell')],
                    },
                ),
                migrations.CreateModel(
                    name='Review',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('pilot', 'Pilot review'), ('quarterly', 'Quarterly review')], max_length=16)),
                        ('name', models.CharField(max_length=100)),
                        ('period_start', models.DateField()),
                        ('period_end', models.DateField(help_text='Inclusive.')),
                        ('max_cycle_time_ratio', models.FloatField(default=0.8, help_text="Cycle time p50 at most this times the baseline's.")),
                        ('max_error_rate', models.FloatField(default=0.05, help_text='Error rate at most this.')),
                        ('max_staff_hours_ratio', models.FloatField(default=0.8, help_text="Staff hours per 30 days at most this times the baseline's.")),
                        ('max_escalation_rate', models.FloatField(default=0.6, help_text='Escalation rate at most this.')),
                        ('thresholds_set_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('baseline', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='insights.baseline')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'governance_review',
                        'ordering': ['-period_start', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=200, unique=True)),
                        ('kind', models.CharField(choices=[('tolerance', 'Tolerance band'), ('anomaly', 'Anomaly'), ('drift', 'Drift')], max_length=16)),
                        ('rule', models.CharField(max_length=64)),
                        ('subject', models.CharField(blank=True, help_text='Action code, metric or dimension.', max_length=64)),
                        ('message', models.CharField(max_length=500)),
                        ('data', models.JSONField(blank=True, default=dict)),
                        ('paused', models.CharField(blank=True, help_text="What was paused automatically: 'agent', an action, or nothing.", max_length=64)),
                        ('created_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                        ('emailed_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'governance_alert',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['acknowledged_at', '-created_at'], name='alert_open_recent')],
                    },
                ),
                migrations.CreateModel(
                    name='BacktestTicket',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('queue', models.CharField(blank=True, max_length=50)),
                        ('before_outcome', models.CharField(max_length=32)),
                        ('before_action', models.CharField(blank=True, max_length=64)),
                        ('before_params', models.JSONField(blank=True, default=dict)),
                        ('after_outcome', models.CharField(max_length=32)),
                        ('after_action', models.CharField(blank=True, max_length=64)),
                        ('after_params', models.JSONField(blank=True, default=dict)),
                        ('after_rules', models.JSONField(blank=True, default=list)),
                        ('after_reason', models.CharField(blank=True, max_length=500)),
                        ('change', models.CharField(choices=[('unchanged', 'Unchanged'), ('newly_acted', 'Newly acted'), ('no_longer_acted', 'No longer acted'), ('different_action', 'Different action'), ('approval_now_required', 'Approval now required'), ('approval_no_longer_required', 'Approval no longer required')], max_length=32)),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tickets', to='insights.backtestrun')),
                        ('ticket', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='servicedesk.ticket')),
                    ],
                    options={
                        'db_table': 'governance_backtestticket',
                        'ordering': ['ticket_id'],
                        'indexes': [models.Index(fields=['run', 'change'], name='backtest_run_change')],
                        'constraints': [models.UniqueConstraint(fields=('run', 'ticket'), name='backtest_one_row_per_ticket')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]

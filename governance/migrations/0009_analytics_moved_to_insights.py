# The managers' models now belong to insights (insights/0001): removed from governance's state
# only; their tables and rows stay as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0008_auditevent_moved_to_core'),
        ('insights', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='alert',
                    name='acknowledged_by',
                ),
                migrations.RemoveField(
                    model_name='backtestrun',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='backtestticket',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='backtestticket',
                    name='ticket',
                ),
                migrations.RemoveField(
                    model_name='baseline',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='baseline',
                ),
                migrations.DeleteModel(
                    name='DailyRollup',
                ),
                migrations.DeleteModel(
                    name='DriftCheck',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='created_by',
                ),
                migrations.DeleteModel(
                    name='Alert',
                ),
                migrations.DeleteModel(
                    name='BacktestRun',
                ),
                migrations.DeleteModel(
                    name='BacktestTicket',
                ),
                migrations.DeleteModel(
                    name='Baseline',
                ),
                migrations.DeleteModel(
                    name='Review',
                ),
            ],
            database_operations=[],
        ),
    ]

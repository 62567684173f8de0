# AuditEvent moves from governance to core in Django's state only: the table keeps its name
# (governance_auditevent), its rows and the append-only trigger of governance/0003.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('governance', '0007_approval_started_by'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField()),
                        ('actor_kind', models.CharField(max_length=16)),
                        ('actor_id', models.BigIntegerField(blank=True, null=True)),
                        ('actor_label', models.CharField(blank=True, max_length=150)),
                        ('code', models.CharField(db_index=True, max_length=100)),
                        ('ticket_id', models.BigIntegerField(blank=True, db_index=True, null=True)),
                        ('data', models.JSONField(default=dict)),
                        ('prev_hash', models.CharField(max_length=64)),
                        ('hash', models.CharField(max_length=64, unique=True)),
                    ],
                    options={
                        'db_table': 'governance_auditevent',
                        'ordering': ['id'],
                        'indexes': [models.Index(fields=['created_at'], name='audit_created')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]

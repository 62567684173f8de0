# AuditEvent now belongs to core (core/0001): removed from governance's state only; the table,
# its rows and its append-only trigger (0003) stay as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0007_approval_started_by'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='AuditEvent')],
            database_operations=[],
        ),
    ]

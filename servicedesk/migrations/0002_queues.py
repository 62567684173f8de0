from django.db import migrations

# A copy, not an import: migrations stay as they were written.
QUEUES = [
    ("accounts-access", "Accounts & Access", "Passwords, lockouts, MFA, group and permission requests."),
    ("software", "Software", "Software installs, licences and application problems."),
    ("hardware", "Hardware", "Laptops, monitors, phones, printers and peripherals."),
    ("network", "Network", "Wi-Fi, VPN, office network and connectivity."),
    ("general", "General", "Everything else, and anything the agent could not place."),
]


def create_queues(apps, schema_editor):
    Queue = apps.get_model("servicedesk", "Queue")
    for position, (slug, name, description) in enumerate(QUEUES):
        Queue.objects.update_or_create(slug=slug, defaults={"name": name, "description": description,
                                                            "position": position})


class Migration(migrations.Migration):
    dependencies = [("servicedesk", "0001_initial")]
    operations = [migrations.RunPython(create_queues, migrations.RunPython.noop)]

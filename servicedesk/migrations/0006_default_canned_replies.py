from django.db import migrations

# A copy, not an import: migrations stay as they were written. Staff edit these in the admin.
REPLIES = [
    (
        "Looking into it",
        "Hi {requester_first_name},\n\nThanks for your request. I'm looking into it now and will update "
        "you here as soon as I know more.\n\n{staff_first_name}",
    ),
    (
        "Bring the device to the IT desk",
        "Hi {requester_first_name},\n\nPlease bring the device to the IT desk (2nd floor) any time between "
        "9 and 5 and mention {ticket_reference}. We'll swap or repair it while you wait.\n\n{staff_first_name}",
    ),
    (
        "Need more details",
        "Hi {requester_first_name},\n\nCould you tell me a bit more: when did it start, what exactly do you "
        "see (an error message or a screenshot helps), and have you tried restarting?\n\n{staff_first_name}",
    ),
    (
        "Resolved: please confirm",
        "Hi {requester_first_name},\n\nThis should be fixed now. Please check and confirm on the ticket; if "
        "it's still not right, reopen it and tell us what you see.\n\n{staff_first_name}",
    ),
]


def create_replies(apps, schema_editor):
    CannedReply = apps.get_model("servicedesk", "CannedReply")
    for position, (title, body) in enumerate(REPLIES):
        CannedReply.objects.get_or_create(title=title, defaults={"body": body, "position": position})


class Migration(migrations.Migration):
    dependencies = [("servicedesk", "0005_staff_workspace")]
    operations = [migrations.RunPython(create_replies, migrations.RunPython.noop)]

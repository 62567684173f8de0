"""Governance pages: the approvals inbox, and the one-time password-reset link."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from governance import reset_links, selectors
from governance.approvals import ApprovalError, approval_decide
from governance.directory.base import DirectoryError
from governance.forms import ApprovalDecisionForm, NewPasswordForm
from governance.models import ApprovalStep
from governance.policy import RULES
from servicedesk.roles import AuthenticatedRequest


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def approvals(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "POST":
        form = ApprovalDecisionForm(request.POST)
        step_id = request.POST.get("step", "")
        if form.is_valid() and step_id.isdigit():
            try:
                approval_decide(
                    step_id=int(step_id),
                    user=request.user,
                    approve=form.cleaned_data["decision"] == "approve",
                    reason=form.cleaned_data["reason"],
                )
            except (ApprovalError, ApprovalStep.DoesNotExist) as error:
                messages.error(
                    request, str(error) if isinstance(error, ApprovalError) else "No such approval."
                )
            else:
                verb = "approved" if form.cleaned_data["decision"] == "approve" else "declined"
                messages.success(request, f"Request {verb}.")
        else:
            messages.error(request, "Choose approve or reject.")
        return redirect("governance:approvals")
    steps = selectors.pending_steps_for(request.user)
    rows = [
        {
            "step": step,
            "request": step.request,
            "what": selectors.describe_action(step.request.action, step.request.params),
            "as": selectors.step_label(step),
            "why": [
                RULES.get(rule, rule) for rule in step.request.rule_ids if rule != "approver_not_requester"
            ],
        }
        for step in steps
    ]
    return render(request, "governance/approvals.html", {"rows": rows, "form": ApprovalDecisionForm()})


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def password_reset(request: HttpRequest, token: str) -> HttpResponse:
    """Reached from the emailed link by someone who cannot sign in: the token is the credential."""
    reset = reset_links.reset_token_lookup(token)
    form = NewPasswordForm(request.POST or None)
    if reset is None:
        return render(request, "governance/password_reset.html", {"invalid": True}, status=404)
    if request.method == "POST" and form.is_valid():
        try:
            reset_links.password_reset_complete(token=token, new_password=form.cleaned_data["password"])
        except reset_links.ResetLinkError as error:
            return render(
                request,
                "governance/password_reset.html",
                {"invalid": True, "message": str(error)},
                status=404,
            )
        except DirectoryError:
            messages.error(request, "The directory did not accept the change just now. Please try again.")
        else:
            return render(request, "governance/password_reset.html", {"done": True})
    return render(request, "governance/password_reset.html", {"form": form, "username": reset.username})

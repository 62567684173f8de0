"""The managers' pages under /governance/dashboard/: metrics, baseline and reviews, monitoring,
backtests.

Managers (and superusers) only: anonymous visitors go to the sign-in page, everyone else gets 403.
Views parse a form, call one service or selector, and render.
"""

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from governance import controls, modes
from insights import backtest, backtest_export, metrics, monitoring, reports, whatif
from insights import reviews as review_services
from insights.forms import BacktestForm
from insights.models import BacktestChange, BacktestRun, BacktestStatus, Baseline, Review
from insights.rollups import day_bounds
from servicedesk.roles import AuthenticatedRequest

PERIODS = (28, 56, 91)

View = Callable[..., HttpResponse]


def manager_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not controls.can_control_agent(request.user):
            raise PermissionDenied("Managers only.")
        return view(request, *args, **kwargs)

    return wrapped


class BaselineComputeForm(forms.Form):
    name = forms.CharField(max_length=100)
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period_start") and data.get("period_end") and data["period_end"] < data["period_start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


class BaselineManualForm(forms.ModelForm):
    class Meta:
        model = Baseline
        fields = [
            "name",
            "monthly_volume",
            "cycle_time_hours",
            "error_rate",
            "staff_hours_monthly",
            "escalation_rate",
            "notes",
        ]


class ReviewForm(forms.ModelForm):
    class Meta:
        model = Review
        fields = [
            "kind",
            "name",
            "baseline",
            "period_start",
            "period_end",
            "max_cycle_time_ratio",
            "max_error_rate",
            "max_staff_hours_ratio",
            "max_escalation_rate",
        ]
        widgets = {
            "period_start": forms.DateInput(attrs={"type": "date"}),
            "period_end": forms.DateInput(attrs={"type": "date"}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period_start") and data.get("period_end") and data["period_end"] < data["period_start"]:
            raise forms.ValidationError("The period ends before it starts.")
        return data


@manager_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    days = request.GET.get("days", "")
    period = int(days) if days.isdigit() and int(days) in PERIODS else 56
    context = reports.dashboard_data(days=period)
    shadow = modes.shadow_agreement(
        since=day_bounds(context["start"])[0], until=day_bounds(context["end"])[1]
    )
    context.update(
        {
            "periods": PERIODS,
            "section": "metrics",
            "shadow": shadow,
            "shadow_display": metrics.formatted(shadow.rate, "rate"),
            "shadow_label": metrics.SHADOW_AGREEMENT_LABEL,
            "shadow_definition": metrics.SHADOW_AGREEMENT_DEFINITION,
        }
    )
    return render(request, "governance/dashboard/metrics.html", context)


@manager_required
@require_http_methods(["GET", "HEAD", "POST"])
def reviews(request: AuthenticatedRequest) -> HttpResponse:
    compute = BaselineComputeForm(prefix="c")
    manual = BaselineManualForm(prefix="m")
    plan = ReviewForm(prefix="r")
    if request.method == "POST":
        which = request.POST.get("form", "")
        if which == "compute":
            compute = BaselineComputeForm(request.POST, prefix="c")
            if compute.is_valid():
                d = compute.cleaned_data
                review_services.baseline_compute(
                    by=request.user, name=d["name"], start=d["period_start"], end=d["period_end"]
                )
                messages.success(request, "Baseline recorded from the period's tickets.")
                return redirect("governance:dashboard_reviews")
        elif which == "manual":
            manual = BaselineManualForm(request.POST, prefix="m")
            if manual.is_valid():
                d = dict(manual.cleaned_data)
                name, notes = d.pop("name"), d.pop("notes")
                review_services.baseline_enter(by=request.user, name=name, figures=d, notes=notes)
                messages.success(request, "Baseline recorded.")
                return redirect("governance:dashboard_reviews")
        elif which == "review":
            plan = ReviewForm(request.POST, prefix="r")
            if plan.is_valid():
                d = dict(plan.cleaned_data)
                review = review_services.review_plan(
                    by=request.user,
                    kind=d.pop("kind"),
                    name=d.pop("name"),
                    baseline=d.pop("baseline"),
                    start=d.pop("period_start"),
                    end=d.pop("period_end"),
                    thresholds=d,
                )
                messages.success(request, "Review planned; its thresholds are now fixed.")
                return redirect("governance:dashboard_review", review_id=review.pk)
    context = {
        "section": "reviews",
        "baselines": Baseline.objects.select_related("created_by"),
        "reviews": Review.objects.select_related("baseline"),
        "compute_form": compute,
        "manual_form": manual,
        "review_form": plan,
        "review_metrics": metrics.REVIEW_METRICS,
    }
    return render(request, "governance/dashboard/reviews.html", context)


@manager_required
@require_safe
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(Review.objects.select_related("baseline"), pk=review_id)
    data = review_services.review_data(review)
    if request.GET.get("format") == "csv":
        response = HttpResponse(review_services.review_csv(data), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="review-{review.pk}.csv"'
        return response
    return render(request, "governance/dashboard/review.html", {**data, "section": "reviews"})


@manager_required
@require_safe
def quarterly(request: AuthenticatedRequest) -> HttpResponse:
    """The latest quarterly review, or a prompt to plan one for the current quarter."""
    review = Review.objects.filter(kind=Review.Kind.QUARTERLY).order_by("-period_start", "-id").first()
    if review is not None:
        return redirect("governance:dashboard_review", review_id=review.pk)
    start, end = review_services.quarter_bounds(timezone.localdate() + timedelta(days=92))
    messages.info(request, f"No quarterly review yet: plan one, e.g. for {start:%d %b} - {end:%d %b %Y}.")
    return redirect("governance:dashboard_reviews")


@manager_required
@require_safe
def monitoring_page(request: HttpRequest) -> HttpResponse:
    context = reports.monitoring_data()
    context.update(
        {
            "section": "monitoring",
            "bands": {code: metrics.tolerance_band(code) for code in ("error_rate", "escalation_rate")},
        }
    )
    return render(request, "governance/dashboard/monitoring.html", context)


@require_POST
@manager_required
def alert_acknowledge(request: AuthenticatedRequest, alert_id: int) -> HttpResponse:
    if monitoring.alert_acknowledge(alert_id=alert_id, by=request.user):
        messages.success(request, "Alert acknowledged.")
    else:
        messages.info(request, "That alert was acknowledged already.")
    return redirect("governance:dashboard_monitoring")


# Backtests ----------------------------------------------------------------------------------------

RUN_REFRESH_SECONDS = 3
CHANGED_ROWS_SHOWN = 200


@manager_required
@require_http_methods(["GET", "HEAD", "POST"])
def backtest_page(request: AuthenticatedRequest) -> HttpResponse:
    """The form (period, queue, limit, what-if changes) and the recent runs."""
    form = BacktestForm(request.POST or None, initial=_default_period())
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            run = backtest.backtest_start(
                by=request.user,
                start=d["period_start"],
                end=d["period_end"],
                queue=d["queue"] or "",
                limit=d["limit"],
                changes=form.changes(),
            )
        except ValueError as error:
            form.add_error(None, str(error))
            return _backtest_render(request, form)
        messages.success(request, f"Backtest started on {run.total:,} ticket{'s' if run.total != 1 else ''}.")
        return redirect("governance:dashboard_backtest_run", run_id=run.pk)
    return _backtest_render(request, form)


def _backtest_render(request: HttpRequest, form: BacktestForm) -> HttpResponse:
    context = {
        "section": "backtest",
        "form": form,
        "runs": BacktestRun.objects.select_related("created_by")[:20],
        "max_days": backtest.MAX_DAYS,
    }
    return render(request, "governance/dashboard/backtest.html", context)


def _default_period() -> dict[str, Any]:
    today = timezone.localdate()
    return {"period_start": today - timedelta(days=27), "period_end": today}


@manager_required
@require_safe
def backtest_run(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(BacktestRun.objects.select_related("created_by"), pk=run_id)
    if request.GET.get("format") == "csv":
        response = HttpResponse(
            "".join(backtest_export.backtest_csv(run)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="backtest-{run.pk}.csv"'
        return response
    change = request.GET.get("change", "")
    if change not in BacktestChange.values or change == BacktestChange.UNCHANGED:
        change = ""
    rows = run.tickets.select_related("ticket").exclude(change=BacktestChange.UNCHANGED)
    if change:
        rows = rows.filter(change=change)
    summary = run.summary or {}
    context = {
        "section": "backtest",
        "run": run,
        "changes": [c.describe() for c in whatif.whatifs_of(run)],
        "classes": [
            {
                "code": code,
                "label": label,
                "definition": backtest.CHANGES[code],
                "count": summary.get("changes", {}).get(code, 0),
            }
            for code, label in BacktestChange.choices
        ],
        "outcomes": [
            {
                "code": code,
                "label": label,
                "before": summary.get("outcomes", {}).get("before", {}).get(code, 0),
                "after": summary.get("outcomes", {}).get("after", {}).get(code, 0),
            }
            for code, label in backtest.OUTCOMES.items()
        ],
        "by_action": summary.get("actions", {}),
        "by_queue": summary.get("queues", {}),
        "rows": [
            {
                "row": row,
                "before": backtest_export.outcome_text(
                    row.before_outcome, row.before_action, row.before_params
                ),
                "after": backtest_export.outcome_text(row.after_outcome, row.after_action, row.after_params),
            }
            for row in (rows[:CHANGED_ROWS_SHOWN] if run.status == BacktestStatus.DONE else [])
        ],
        "rows_shown": CHANGED_ROWS_SHOWN,
        "change": change,
        "change_label": BacktestChange(change).label if change else "",
        "running": run.status in (BacktestStatus.QUEUED, BacktestStatus.RUNNING),
        "percent": round(100 * run.processed / run.total) if run.total else 0,
    }
    response = render(request, "governance/dashboard/backtest_run.html", context)
    if context["running"]:
        response["Refresh"] = str(RUN_REFRESH_SECONDS)  # no script: the browser reloads the page
    return response

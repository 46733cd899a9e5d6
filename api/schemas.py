"""Request and response bodies. Families per resource: ``XCreate`` / ``XUpdate`` in,
``XPublic`` / ``XsPublic(data, count)`` out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

Role = Literal["rep", "manager", "admin"]
ItemKind = Literal["action_item", "customer_need", "objection"]
Category = Literal["price", "timing", "competitor", "authority", "need", "trust", "other"]
Review = Literal["unreviewed", "accepted", "rejected"]
SpeakerRole = Literal["rep", "customer"]
# Path ids: database integers, so out-of-range numbers are a 422, not a database error.
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserPublic(_Out):
    id: int
    name: str
    role: Role
    team: str | None


class UsersPublic(_Out):
    data: list[UserPublic]
    count: int


class UserCreate(_In):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    role: Role
    team: str | None = Field(default=None, min_length=1, max_length=100)


class UserCreated(UserPublic):
    token: str = Field(description="Bearer token; shown once, store it now")


class JobPublic(_Out):
    id: int
    kind: Literal["analysis", "voice"] = Field(
        default="analysis", description="A call's analysis, or a user's voice enrollment"
    )
    call_id: int | None = Field(description="The call analysed; none for a voice job")
    user_id: int | None = Field(default=None, description="Whose voice a voice job enrolls")
    speech_s: float | None = Field(
        default=None, description="A finished voice job: seconds of speech in the profile"
    )
    status: Literal["queued", "running", "done", "failed"]
    stage: str | None
    progress: float
    error: str | None
    error_kind: str | None = Field(
        default=None,
        description="What kind of failure error is (option, model, truncated_media, "
        "unexpected...); empty for failures stored before kinds were",
    )
    attempts: int
    max_attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CallPublic(_Out):
    id: int
    title: str
    customer: str
    call_date: date | None
    rep: str
    status: Literal["queued", "processing", "done", "failed"]
    error: str | None
    filename: str
    sha256: str
    media_kind: str
    size_bytes: int
    duration_s: float | None
    language: str | None
    overview: str
    has_recording: bool
    created_at: datetime
    job: JobPublic | None = None


class CallsPublic(_Out):
    data: list[CallPublic]
    count: int


class UploadAccepted(_Out):
    call: CallPublic
    job: JobPublic
    created: bool = Field(description="False when this recording was uploaded before")


class ItemEditPublic(_Out):
    at: datetime
    user: str | None
    action: str
    changes: dict[str, Any]


class ItemPublic(_Out):
    id: int
    call_id: int
    kind: ItemKind
    text: str
    quote: str
    start_s: float
    end_s: float
    speaker: str | None
    role: str | None
    confidence: float
    owner: str | None
    due: date | None
    due_text: str | None
    category: str | None
    origin: Literal["model", "manual"]
    review: Review
    edited: bool
    reviewed_by: str | None
    reviewed_at: datetime | None
    edits: list[ItemEditPublic] = Field(default_factory=list)


class ItemCreate(_In):
    kind: ItemKind
    text: str = Field(min_length=1, max_length=2000)
    quote: str = Field(default="", max_length=4000)
    start_s: float = Field(default=0.0, ge=0, le=86_400)
    end_s: float = Field(default=0.0, ge=0, le=86_400)
    speaker: str | None = Field(default=None, max_length=64)
    role: SpeakerRole | None = None
    owner: str | None = Field(default=None, max_length=100)
    due: date | None = None
    category: Category | None = None


class ItemUpdate(_In):
    review: Review | None = None
    text: str | None = Field(default=None, min_length=1, max_length=2000)
    owner: str | None = Field(default=None, max_length=100)
    due: date | None = None
    category: Category | None = None
    kind: ItemKind | None = None


class SpeakerPublic(_Out):
    label: str
    name: str | None
    role: SpeakerRole | None
    talk_s: float


class SpeakerUpdate(_In):
    label: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=100)
    role: SpeakerRole | None = None


class SpeakersUpdate(_In):
    speakers: list[SpeakerUpdate] = Field(min_length=1, max_length=50)


class SegmentPublic(_Out):
    id: int
    start_s: float
    end_s: float
    text: str
    speaker: str | None
    speaker_name: str | None = None
    role: str | None
    language: str | None


class CallDetail(CallPublic):
    segments: list[SegmentPublic]
    speakers: list[SpeakerPublic]
    items: list[ItemPublic]
    summary: dict[str, Any] | None
    metrics: dict[str, Any]
    trackers: list[dict[str, Any]]
    report: dict[str, Any] | None = Field(description="The report with review applied")


class Moment(_Out):
    item_id: int
    call_id: int
    call_title: str
    customer: str
    rep: str
    text: str
    quote: str
    start_s: float
    end_s: float
    review: Review
    category: str | None
    url: str = Field(description="Where the moment plays: the call's audio at start_s")


class Theme(_Out):
    label: str
    calls: int
    customers: int
    count: int
    items: list[Moment]


class InsightsPublic(_Out):
    kind: ItemKind
    themes: list[Theme]
    count: int
    pending: int = Field(
        default=0,
        description="Items counted but not in a theme yet: their embedding is still being made",
    )


class SearchHit(_Out):
    call_id: int
    call_title: str
    kind: Literal["segment", "item"]
    id: int
    item_kind: str | None
    speaker: str | None
    start_s: float
    end_s: float
    snippet: str


class SearchResults(_Out):
    query: str
    data: list[SearchHit]
    count: int


class WebhookCreate(_In):
    url: HttpUrl


class WebhookPublic(_Out):
    id: int
    url: str
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="HMAC-SHA256 key for X-Assistant-Signature; shown once")


class VoiceAccepted(_Out):
    user: str
    job: JobPublic = Field(description="The enrollment job; poll GET /api/jobs/{id}")


class LoginLink(_Out):
    url: str
    expires_in_s: int


class Message(_Out):
    detail: str


class CustomerPublic(_Out):
    id: int
    name: str
    calls: int = Field(description="Calls with this customer that you may see")
    first_call: date | None
    last_call: date | None


class CustomersPublic(_Out):
    data: list[CustomerPublic]
    count: int


class CustomerUpdate(_In):
    name: str = Field(min_length=1, max_length=200)


class CustomerMerge(_In):
    sources: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        min_length=1, max_length=100, description="Customers whose calls move into this one"
    )


class CallCustomerUpdate(_In):
    customer: str = Field(max_length=200, description="Empty: the call has no customer")


class TimelineCallPublic(_Out):
    id: int
    title: str
    day: date
    rep: str
    status: str
    duration_s: float | None
    items: dict[str, int]


class ThemeMomentPublic(_Out):
    item_id: int
    call_id: int
    call_title: str
    day: date
    start_s: float
    quote: str
    url: str = Field(description="The moment in its call's page")


class CustomerThemePublic(_Out):
    kind: ItemKind
    label: str
    calls: int
    first_raised: date
    last_raised: date
    new: bool = Field(description="First raised in the latest call")
    count: int = Field(description="All its moments; `moments` lists the latest of them")
    moments: list[ThemeMomentPublic]


class FollowUpPublic(_Out):
    id: int
    text: str
    owner: str | None
    due: date | None
    bucket: Literal["overdue", "this_week", "later", "no_date", "done"]
    call_id: int
    call_title: str
    customer: str
    customer_id: int | None
    rep: str
    start_s: float
    done_at: datetime | None
    url: str = Field(description="The moment in its call's page")


class WarningMomentPublic(_Out):
    call_id: int
    start_s: float
    quote: str
    url: str


class WarningPublic(_Out):
    kind: str
    subject: str = Field(description="What the warning is about; dismiss it by kind and subject")
    message: str
    moments: list[WarningMomentPublic]
    dismissed_reason: str | None = None
    dismissed_by: str | None = None


class WarningDismiss(_In):
    kind: str = Field(min_length=1, max_length=32)
    subject: str = Field(default="", max_length=100)
    reason: str = Field(min_length=1, max_length=2000)


class CustomerDetail(CustomerPublic):
    timeline: list[TimelineCallPublic]
    themes: list[CustomerThemePublic]
    pending: int = Field(description="Needs and objections not in a theme yet")
    open_count: int = Field(description="All open action items; `open_items` lists the first")
    open_items: list[FollowUpPublic]
    new_since_last_call: list[CustomerThemePublic]
    new_items: list[FollowUpPublic] = Field(description="Open action items of the latest call")
    warnings: list[WarningPublic]
    dismissed_warnings: list[WarningPublic]


class FollowUpGroup(_Out):
    rep: str
    counts: dict[str, int]


class FollowUpsPublic(_Out):
    today: date
    counts: dict[str, int] = Field(description="Open items per bucket")
    per_rep: list[FollowUpGroup]
    data: list[FollowUpPublic]


class CalendarFeed(_Out):
    url: str = Field(description="The feed's address; it carries its own read-only token")

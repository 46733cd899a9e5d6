"""The order of the stages, and nothing else.

::

    recording --media--> 16 kHz audio --transcribe--> segments/words
              --diarize--> speakers, roles --extract--> items --summarize--> summary, metrics
    transcript (.vtt/.srt/.jsonl/.json) joins at "diarize" with its own segments and speakers

Roles the heuristic guessed are decided again at the start of "extract", with who states needs
as the extractor reads the call with the roles withheld (``roles.reassess_roles``). A call
whose roles are all the heuristic's guess at best (one voice, a meeting where nobody sells) is
extracted with the roles withheld (``roles.roles_to_read``).

Each stage takes options and returns data; this module builds the ``CallReport`` from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

from assistant import PIPELINE_VERSION, diarize, media
from assistant.diarize import DiarizeOptions
from assistant.diarize.profiles import ProfileStore, VoiceProfile
from assistant.diarize.roles import reassess_roles, roles_to_read
from assistant.extract import ExtractOptions, Extractor, get_extractor
from assistant.languages import guess_language
from assistant.metrics import MetricsOptions, compute_metrics
from assistant.report import CallReport, Provenance, Segment, Source, Speaker, spoken_language
from assistant.settings import Settings
from assistant.summarize import SummarizeOptions, summarize
from assistant.trackers import DEFAULT_TRACKERS, Tracker, load_trackers, match_trackers
from assistant.transcribe import (
    TranscribeOptions,
    Transcriber,
    Transcript,
    check_language,
    get_transcriber,
)
from assistant.transcripts import is_transcript, read_transcript

# Called with (stage, fraction of that stage done).
StageProgress = Callable[[str, float], None]

STAGES = ("media", "transcribe", "diarize", "extract", "summarize")
_VERSIONED = (
    "sales-call-assistant",
    "faster-whisper",
    "ctranslate2",
    "openai-whisper",
    "torch",
    "av",
    "numpy",
)


@dataclass(frozen=True)
class PipelineOptions:
    cache_dir: Path
    engine: str = "faster-whisper"
    media: media.MediaOptions = field(default_factory=media.MediaOptions)
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    call_date: date | None = None
    diarize: DiarizeOptions = field(default_factory=DiarizeOptions)
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    # Rep voice profiles (``assistant reps enroll``); read at each run, so new ones count at once.
    profiles_dir: Path | None = None
    extract: ExtractOptions = field(default_factory=ExtractOptions)
    summarize: SummarizeOptions = field(default_factory=SummarizeOptions)
    trackers: tuple[Tracker, ...] = DEFAULT_TRACKERS


def package_versions(names: tuple[str, ...] = _VERSIONED) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _noop(stage: str, fraction: float) -> None:
    return None


class Pipeline:
    """Runs calls through the stages; models load on first use and stay loaded."""

    def __init__(self, options: PipelineOptions) -> None:
        self.options = options

    def transcriber(self) -> Transcriber:
        o = self.options
        t = o.transcribe
        return get_transcriber(o.engine, t.model, t.compute_type, t.cpu_threads, o.cache_dir)

    def extractor(self) -> Extractor:
        return get_extractor(self.options.extract)

    def run(self, path: Path, progress: StageProgress | None = None) -> CallReport:
        """Analyse one recording or transcript file into a ``CallReport``."""
        progress = progress or _noop
        if is_transcript(path):
            return self._from_transcript(path, progress)
        return self._from_recording(path, progress)

    def _from_recording(self, path: Path, progress: StageProgress) -> CallReport:
        o = self.options
        progress("media", 0.0)
        audio = media.load_audio(path, o.media)
        progress("media", 1.0)
        # Two-party or not is decided once: it decides how to transcribe and how to diarize.
        crosstalk = diarize.two_parties(audio.samples, o.diarize)
        progress("transcribe", 0.0)
        transcript = self._transcribe(audio, crosstalk is not None, progress)
        progress("transcribe", 1.0)
        progress("diarize", 0.0)
        found = diarize.diarize(
            audio.samples, transcript.segments, o.diarize, self.profiles(), crosstalk
        )
        progress("diarize", 1.0)
        source = Source(
            path=str(path),
            sha256=media.sha256_file(path),
            kind=audio.info.kind,
            duration_s=round(audio.duration_s, 3),
            channels=audio.info.channels,
            format=audio.info.format,
            size_bytes=path.stat().st_size,
        )
        provenance = self._provenance(transcript.engine, transcript.model, transcript.compute_type)
        return self._later_stages(
            source, provenance, found.segments, transcript.language, progress, found.speakers
        )

    def _transcribe(
        self, audio: media.Audio, two_party: bool, progress: StageProgress
    ) -> Transcript:
        o = self.options
        transcriber = self.transcriber()
        if not two_party:
            return transcriber.transcribe(
                audio.mono, o.transcribe, lambda f: progress("transcribe", f)
            )
        # One party per channel: each channel alone (no cross-talk in the text), merged by time.
        left = transcriber.transcribe(
            diarize.channel(audio.samples, 0), o.transcribe, lambda f: progress("transcribe", f / 2)
        )
        right = transcriber.transcribe(
            diarize.channel(audio.samples, 1),
            o.transcribe,
            lambda f: progress("transcribe", 0.5 + f / 2),
        )
        return diarize.merge_transcripts(left, right)

    def profiles(self) -> list[VoiceProfile]:
        directory = self.options.profiles_dir
        return ProfileStore(directory).list() if directory is not None else []

    def _from_transcript(self, path: Path, progress: StageProgress) -> CallReport:
        segments = read_transcript(path)
        source = Source(
            path=str(path),
            sha256=media.sha256_file(path),
            kind="transcript",
            duration_s=round(max(s.end_s for s in segments), 3),
            format=path.suffix.lstrip(".").lower(),
            size_bytes=path.stat().st_size,
        )
        provenance = self._provenance("transcript", "", "")
        progress("diarize", 0.0)
        found = diarize.diarize_transcript(segments, self.options.diarize, self.profiles())
        progress("diarize", 1.0)
        # the language the user named, else the one the transcript's own segments say
        language = self.options.transcribe.language or spoken_language(found.segments)
        return self._later_stages(
            source, provenance, found.segments, language, progress, found.speakers
        )

    def _later_stages(
        self,
        source: Source,
        provenance: Provenance,
        segments: list[Segment],
        language: str | None,
        progress: StageProgress,
        speakers: list[Speaker] | None = None,
    ) -> CallReport:
        from assistant.embeddings import get_sentence_encoder

        o = self.options
        progress("extract", 0.0)
        extractor = self.extractor()
        # The call's language picks the model and the summary's wording; a transcript that
        # names none is read for it.
        read_as = language or guess_language(s.text for s in segments)
        if speakers:
            # Who states needs, as the extractor reads it, helps the heuristic tell the sides.
            segments, speakers = reassess_roles(
                segments, speakers, lambda: extractor.need_talk(segments, read_as)
            )
        read = roles_to_read(segments, speakers or [])
        items = extractor.extract(read, o.call_date or date.today(), read_as)
        progress("extract", 1.0)
        progress("summarize", 0.0)
        summary = summarize(segments, items, get_sentence_encoder(), read_as, o.summarize)
        trackers = match_trackers(segments, o.trackers)
        progress("summarize", 1.0)
        metrics = compute_metrics(segments, source.duration_s, o.metrics)
        options = {
            **provenance.options,
            "extract": {**o.extract.as_dict(), "model": extractor.model_name(read_as)},
            "diarize": o.diarize.as_dict(),
        }
        return CallReport(
            source=source,
            language=language,
            call_date=self.options.call_date,
            provenance=provenance.model_copy(update={"options": options}),
            segments=segments,
            speakers=speakers or [],
            metrics=metrics,
            items=items,
            summary=summary,
            trackers=trackers,
        )

    def _provenance(self, engine: str, model: str, compute_type: str) -> Provenance:
        return Provenance(
            engine=engine,
            model=model,
            compute_type=compute_type,
            pipeline_version=PIPELINE_VERSION,
            versions=package_versions(),
            options=self.options.transcribe.as_dict() if engine != "transcript" else {},
            created_at=datetime.now(UTC),
        )


def pipeline_options(
    settings: Settings,
    *,
    model: str | None = None,
    engine: str | None = None,
    language: str | None = None,
    vocabulary: str | None = None,
    translate: bool | None = None,
    call_date: date | None = None,
    trackers_file: Path | None = None,
    rep_channel: str | None = None,
    speakers: int | None = None,
) -> PipelineOptions:
    """Turn settings, with the CLI's or API's overrides where given, into ``PipelineOptions``."""
    words = vocabulary if vocabulary is not None else settings.vocabulary
    tracker_file = trackers_file or settings.trackers_file
    return PipelineOptions(
        cache_dir=settings.cache_dir,
        engine=engine or settings.engine,
        media=media.MediaOptions(max_duration_s=settings.max_duration_s),
        transcribe=TranscribeOptions(
            model=model or settings.model,
            language=check_language(language or settings.language),
            compute_type=settings.compute_type,
            beam_size=settings.beam_size,
            vad=settings.vad,
            vocabulary=tuple(w.strip() for w in words.split(",") if w.strip()),
            cpu_threads=settings.cpu_threads,
            translate=settings.translate if translate is None else translate,
        ),
        call_date=call_date,
        extract=ExtractOptions(
            model_dir=settings.extractor_dir,
            min_confidence=settings.extract_min_confidence,
        ),
        trackers=load_trackers(tracker_file) if tracker_file else DEFAULT_TRACKERS,
        diarize=DiarizeOptions(
            rep_channel=rep_channel or settings.rep_channel,  # type: ignore[arg-type]
            speakers=speakers if speakers is not None else settings.speakers,
        ),
        profiles_dir=settings.profiles_dir,
    )

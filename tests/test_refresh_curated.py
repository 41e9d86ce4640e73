"""Refresh steps 2-3 against servers on 127.0.0.1: stable releases confirmed from kernel.org
ChangeLogs, upstream reports attached by evidence, all of it served through the snapshot overlay
without touching signatures/."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import app_with, settings_with, shared_path
from upstream_server import ReplayServer, fixed, sequence
from vulns_fixture import add_records, make_repo

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import KnownBug, Reference, StableFix
from sigmatch.catalog.overlay import CuratedUpdate, apply_update
from sigmatch.catalog.store import LocalStore, encode_bugs
from sigmatch.cli import main
from sigmatch.errors import CatalogError
from sigmatch.refresh import refresh
from sigmatch.runtime import build_runtime

PARENT_FIX = "172e422ffea20a89bfdc672741c1aad6fbb5044e"  # the upstream-samples' ChangeLog-6.1.109 names it
PARENT_STABLE = "d8c42405fc3507cc43ba7e4986a773c3fc633f6e"
OWN_FIX = "5b1c0ffee0ddba11cafef00d0123456789abcdef"  # a made-up commit for the self-contained tests

PARENT_YAML = f"""\
id: parent-watched-softlockup
title: 'fsnotify: removing a watch walks every child dentry under i_lock'
summary: test fixture in the form of a curated entry.
kinds: [soft_lockup]
signatures:
- title: 'BUG: soft lockup in __fsnotify_update_child_dentry_flags'
  frames: [__fsnotify_update_child_dentry_flags, fsnotify_recalc_mask, fsnotify_destroy_mark]
  kind: soft_lockup
fixes:
- sha: {PARENT_FIX}
  subject: 'fsnotify: clear PARENT_WATCHED flags lazily'
  mainline: '6.11'
  source: test fixture
stable:
- branch: '6.1'
  version: 6.1.108
  source: test fixture (a guess one release off)
  verified: false
"""

OWN_YAML = f"""\
id: own-widget-null
title: 'widget: NULL dereference when a widget is removed twice'
summary: test fixture.
kinds: [null_deref]
signatures:
- title: 'BUG: kernel NULL pointer dereference in widget_remove'
  frames: [widget_remove, widget_ioctl]
  kind: null_deref
fixes:
- sha: {OWN_FIX}
  subject: 'widget: do not remove a widget twice'
  mainline: '6.9'
  source: test fixture
stable:
- branch: '6.6'
  version: 6.6.30
  source: test fixture
  verified: false
- branch: '6.1'
  version: 6.1.90
  source: test fixture, checked by a person
"""


def changelog(version: str, backports: dict[str, str]) -> str:
    """A ``ChangeLog-<version>`` in kernel.org's format (git log, medium): the release commit, then
    one backport per ``{stable sha: upstream sha}``."""
    head = hashlib.sha1(version.encode()).hexdigest()
    parts = [f"commit {head}\nAuthor: Greg Kroah-Hartman <gregkh@linuxfoundation.org>\n"
             f"Date:   Sun Sep 8 07:54:00 2024 +0200\n\n    Linux {version}\n"]
    for stable_sha, upstream in backports.items():
        parts.append(f"commit {stable_sha}\nAuthor: A Developer <dev@example.org>\nDate:   Thu Jun 20 17:23:37 2024 +0200\n\n"
                     f"    widget: a change\n    \n    commit {upstream} upstream.\n    \n"
                     f"    Signed-off-by: A Developer <dev@example.org>\n")
    return "\n".join(parts)


def settings(tmp: Path, url: str, sig_dir: Path, **over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"SIGMATCH_UPSTREAM_LOOKUP": "on", "SIGMATCH_HTTP_TIMEOUT": 1.0,
                              "SIGMATCH_RATE_LIMIT": 0.0, **over}
    return {"SIGMATCH_DATA_DIR": str(tmp / "data"), "SIGMATCH_SIGNATURES_DIR": str(sig_dir), "REDIS_URL": "",
            "SIGMATCH_LORE_URL": url, "SIGMATCH_BUGZILLA_URL": url, "SIGMATCH_SYZBOT_URL": url,
            "SIGMATCH_STABLE_URL": url, **values}


def catalog_of(env: dict[str, Any]) -> Catalog:
    return build_runtime(settings_with(env)).load_catalog()


def sigdir(tmp: Path, *docs: str) -> Path:
    d = tmp / "signatures"
    d.mkdir(exist_ok=True)
    for doc in docs:
        bug_id = next(line.split(":", 1)[1].strip() for line in doc.splitlines() if line.startswith("id:"))
        (d / f"{bug_id}.yaml").write_text(doc)
    return d


@pytest.fixture
def own_server() -> Iterator[ReplayServer]:
    """kernel.org for the made-up widget fix: 6.6.31 carries it, 6.6.30 does not."""
    with ReplayServer(None) as srv:
        srv.route("/v6.x/ChangeLog-6.6.30", fixed(200, changelog("6.6.30", {"1" * 40: "2" * 40}), "text/plain"))
        srv.route("/v6.x/ChangeLog-6.6.31", fixed(200, changelog("6.6.31", {"3" * 40: OWN_FIX}), "text/plain"))
        yield srv


def stable_of(bug: KnownBug | None) -> dict[str, StableFix]:
    assert bug is not None
    return {s.branch: s for s in bug.stable}


def test_stable_step_corrects_an_unverified_release_and_keeps_a_verified_one(tmp_path: Path, own_server: ReplayServer) -> None:
    s = settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML))
    report = refresh(("stable",), settings=settings_with(s))
    facts = stable_of(catalog_of(s).get("own-widget-null"))
    assert facts["6.6"].version == "6.6.31" and facts["6.6"].verified and facts["6.6"].sha == "3" * 40
    assert "ChangeLog-6.6.31" in (facts["6.6"].source or "")
    assert facts["6.1"].version == "6.1.90" and facts["6.1"].source == "test fixture, checked by a person"
    assert any("6.6.31, not 6.6.30" in c for c in report.curated["corrected"])
    assert own_server.count("/v6.x/ChangeLog-6.1.") == 0  # a person verified 6.1: not asked
    assert not report.unchanged and report.snapshot_version != report.previous_version
    # signatures/ is never written
    assert "6.6.30" in (tmp_path / "signatures" / "own-widget-null.yaml").read_text()


def test_changelogs_are_not_read_twice_and_nothing_new_makes_no_new_snapshot(tmp_path: Path, own_server: ReplayServer) -> None:
    s = settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML))
    first = refresh(("stable",), settings=settings_with(s))
    n = len(own_server.requests)
    second = refresh(("stable",), settings=settings_with(s))
    assert len(own_server.requests) == n  # 6.6 settled, 6.6.30 remembered as not carrying it
    assert second.unchanged and second.snapshot_version == first.snapshot_version
    assert LocalStore(tmp_path / "data").read_meta().curated_checked.get("own-widget-null")


def test_a_cve_only_refresh_keeps_what_the_curated_steps_learned(tmp_path: Path, own_server: ReplayServer) -> None:
    repo = make_repo(tmp_path / "vulns.git", 3)
    s = settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML), SIGMATCH_CVE_REPO=str(repo))
    refresh(("cve",), settings=settings_with(s))
    refresh(("stable",), settings=settings_with(s))
    add_records(repo, 2, first=1)
    report = refresh(("cve",), settings=settings_with(s))
    assert len(report.added) == 2
    assert stable_of(catalog_of(s).get("own-widget-null"))["6.6"].version == "6.6.31"


def test_upstream_off_asks_nobody(tmp_path: Path, own_server: ReplayServer) -> None:
    s = settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML), SIGMATCH_UPSTREAM_LOOKUP="off")
    report = refresh(("stable", "upstream"), settings=settings_with(s))
    assert own_server.requests == []
    assert any("SIGMATCH_UPSTREAM_LOOKUP=off" in n for n in report.curated["notes"])
    assert stable_of(catalog_of(s).get("own-widget-null"))["6.6"].verified is False


def test_kernel_org_down_fails_nothing_and_gives_up_after_a_few_tries(tmp_path: Path) -> None:
    with ReplayServer(None) as srv:
        srv.route("/", fixed(503, "down", "text/plain"))
        s = settings(tmp_path, srv.url, sigdir(tmp_path, OWN_YAML, PARENT_YAML))
        report = refresh(("stable",), settings=settings_with(s))
        assert report.unchanged
        assert any("could not be read" in n for n in report.curated["notes"])
        assert srv.count("/v6.x/") <= 3 * 3  # three ChangeLogs (each with its retries), then it stops
        assert stable_of(catalog_of(s).get("own-widget-null"))["6.6"].version == "6.6.30"


def test_a_changelog_not_yet_released_is_asked_again_next_time(tmp_path: Path) -> None:
    with ReplayServer(None) as srv:
        srv.route("/v6.x/ChangeLog-6.6.31", sequence(fixed(404, "no", "text/plain"),
                                                     fixed(200, changelog("6.6.31", {"3" * 40: OWN_FIX}), "text/plain")))
        s = settings(tmp_path, srv.url, sigdir(tmp_path, OWN_YAML))
        assert refresh(("stable",), settings=settings_with(s)).unchanged
        assert not refresh(("stable",), settings=settings_with(s)).unchanged
        assert stable_of(catalog_of(s).get("own-widget-null"))["6.6"].version == "6.6.31"


def test_the_budget_cuts_a_pass_short_and_the_next_one_starts_where_it_stopped(tmp_path: Path, own_server: ReplayServer) -> None:
    s = settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML), SIGMATCH_REFRESH_UPSTREAM_BUDGET=0)
    report = refresh(("stable",), settings=settings_with(s))
    assert report.curated["not_reached"] == ["own-widget-null"] and own_server.requests == []
    s["SIGMATCH_REFRESH_UPSTREAM_BUDGET"] = 60
    assert refresh(("stable",), settings=settings_with(s)).curated["checked"] == 1


# ------------------------------------------------------------------ against the upstream samples


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(shared_path("upstream-samples")) as srv:
        srv.route("/v6.x/ChangeLog-6.1.108", fixed(200, changelog("6.1.108", {"4" * 40: "5" * 40}), "text/plain"))
        yield srv


def test_both_steps_against_the_samples(tmp_path: Path, replay: ReplayServer) -> None:
    fsnotify_race = (Path(__file__).parent.parent / "signatures" / "fsnotify-mark-connector-race.yaml").read_text()
    s = settings(tmp_path, replay.url, sigdir(tmp_path, PARENT_YAML, fsnotify_race))
    report = refresh(("stable", "upstream"), settings=settings_with(s))
    cat = catalog_of(s)
    bug = cat.get("parent-watched-softlockup")
    assert bug is not None
    fact = stable_of(bug)["6.1"]
    assert (fact.version, fact.sha, fact.verified) == ("6.1.109", PARENT_STABLE, True)
    assert "ChangeLog-6.1.109" in (fact.source or "")
    # bugzilla 299901 names 172e422ffea2 in a comment: attached, with the evidence
    bz = [r for r in bug.references if r.kind == "bugzilla"]
    assert [r.value for r in bz] == ["299901"] and "172e422ffea2" in (bz[0].found or "")
    # the syzbot deadlock report the same search returns is another bug: not attached
    assert not any(r.kind in ("lore", "syzbot") for r in bug.references)
    race = cat.get("fsnotify-mark-connector-race")
    assert race is not None and all(r.found is None for r in race.references)
    assert any("bugzilla 299901" in a for a in report.curated["attached"])
    assert cat.meta["refreshed"] == ["parent-watched-softlockup"]


def test_a_report_with_the_same_crash_title_is_attached(tmp_path: Path, replay: ReplayServer) -> None:
    deadlock = """\
id: destroy-mark-deadlock
title: 'inotify: fsnotify_destroy_mark() can deadlock against reclaim'
kinds: [lockdep]
signatures:
- title: 'possible deadlock in fsnotify_destroy_mark'
  frames: [fsnotify_destroy_mark, fsnotify_destroy_marks]
  kind: lockdep
"""
    s = settings(tmp_path, replay.url, sigdir(tmp_path, deadlock))
    refresh(("upstream",), settings=settings_with(s))
    bug = catalog_of(s).get("destroy-mark-deadlock")
    assert bug is not None
    lore = [r for r in bug.references if r.kind == "lore"]
    assert [r.value for r in lore] == ["000000000000ae63710620417f67@google.com"]
    assert lore[0].url and lore[0].url.startswith(replay.url + "/")
    assert "same crash title" in (lore[0].found or "")


# ------------------------------------------------------------------ the overlay itself


def test_overlay_rules() -> None:
    bug = KnownBug(id="b", title="t", stable=(StableFix("6.1", "6.1.90", source="person"),
                                              StableFix("6.6", "6.6.30", verified=False, introduced="6.6.2")),
                   references=(Reference("bugzilla", "1"),), unfixed_branches=("5.15",))
    update = CuratedUpdate("b", stable=(StableFix("6.1", "6.1.91", sha="a" * 40, source="cl"),
                                        StableFix("6.6", "6.6.31", sha="b" * 40, source="cl"),
                                        StableFix("5.15", "5.15.160", sha="c" * 40, source="cl")),
                           references=(Reference("bugzilla", "1", found="x"), Reference("lore", "m@x", found="y")))
    out = apply_update(bug, update)
    facts = {s.branch: s for s in out.stable}
    assert facts["6.1"].version == "6.1.90"  # a person's verified fact wins
    assert facts["6.6"].version == "6.6.31" and facts["6.6"].introduced == "6.6.2"
    assert facts["5.15"].version == "5.15.160" and out.unfixed_branches == ()
    assert [r.value for r in out.references] == ["1", "m@x"]


def test_the_overlay_changes_the_snapshot_version_and_round_trips() -> None:
    bugs = [KnownBug(id="CVE-2099-0001", title="x")]
    update = CuratedUpdate("b", stable=(StableFix("6.6", "6.6.31", sha="b" * 40, source="cl"),), updated="2026-11-25")
    plain, v1 = encode_bugs(bugs)
    with_overlay, v2 = encode_bugs(bugs, {"b": update})
    assert v1 != v2
    from sigmatch.catalog.store import decode_snapshot

    assert decode_snapshot(plain)[1] == {}
    assert decode_snapshot(with_overlay)[1] == {"b": update}


def test_a_snapshot_overlay_about_a_non_curated_entry_is_refused() -> None:
    from sigmatch.refresh import _validate

    with pytest.raises(CatalogError):
        _validate([], {}, {"nope": CuratedUpdate("nope")}, curated_ids=("b",))
    with pytest.raises(CatalogError):
        _validate([], {}, {"b": CuratedUpdate("b", stable=(StableFix("6.6", "6.1.3", source="cl"),))}, curated_ids=("b",))


def test_cli_prints_what_the_curated_steps_found(tmp_path: Path, own_server: ReplayServer,
                                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML)).items():
        monkeypatch.setenv(k, str(v))
    assert main(["refresh", "--source", "stable"]) == 0
    out = capsys.readouterr().out
    assert "own-widget-null: 6.6 -> 6.6.31" in out


def test_through_redis_both_web_processes_serve_what_the_refresh_confirmed(
        tmp_path: Path, own_server: ReplayServer, redis_url: str) -> None:
    import time

    s = settings(tmp_path, own_server.url, sigdir(tmp_path, OWN_YAML), REDIS_URL=redis_url,
                 SIGMATCH_SNAPSHOT_CHECK=0.05)
    webs = [app_with(dict(s, SIGMATCH_DATA_DIR=str(tmp_path / f"web{i}"), TESTING=True)).test_client()
            for i in range(2)]

    def six_six(web: Any) -> dict[str, Any]:
        r = web.get("/api/v1/bugs/own-widget-null")
        assert r.status_code == 200, r.data[:300]
        return next(x for x in r.get_json()["stable"] if x["branch"] == "6.6")

    assert all(six_six(w)["version"] == "6.6.30" for w in webs)
    runtime = build_runtime(settings_with(s))
    before = runtime.current_version()
    report = refresh(("stable",), runtime=runtime)
    assert runtime.current_version() == report.snapshot_version != before
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(six_six(w)["version"] == "6.6.31" for w in webs):
        time.sleep(0.05)
    for w in webs:
        fact = six_six(w)
        assert (fact["version"], fact["verified"], fact["sha"]) == ("6.6.31", True, "3" * 40)


def test_the_bug_page_shows_where_a_refreshed_fact_comes_from(tmp_path: Path, replay: ReplayServer) -> None:

    s = settings(tmp_path, replay.url, sigdir(tmp_path, PARENT_YAML))
    web = app_with(dict(s, TESTING=True)).test_client()
    assert "(unverified)" in web.get("/bugs/parent-watched-softlockup").get_data(as_text=True)
    refresh(("stable", "upstream"), settings=settings_with(s))
    web = app_with(dict(s, TESTING=True)).test_client()
    html = web.get("/bugs/parent-watched-softlockup").get_data(as_text=True)
    assert "6.1.109" in html and "ChangeLog-6.1.109" in html and "(unverified)" not in html
    assert "found by a refresh" in html and "172e422ffea2" in html


def test_upstream_down_stops_after_a_few_entries_and_they_go_first_next_time(tmp_path: Path) -> None:
    docs = [OWN_YAML.replace("own-widget-null", f"widget-{i}").replace("widget_remove", f"widget_remove{i}")
            for i in range(5)]
    with ReplayServer(None) as srv:
        srv.route("/", fixed(503, "down", "text/plain"))
        s = settings(tmp_path, srv.url, sigdir(tmp_path, *docs))
        report = refresh(("upstream",), settings=settings_with(s))
    c = report.curated
    assert c["lookups"] == 3 and len(c["not_reached"]) == 2 and report.unchanged
    assert any("kept failing" in n for n in c["notes"])
    assert LocalStore(tmp_path / "data").read_meta().curated_checked == {}


def test_hostile_upstream_answers_change_nothing_and_fail_nothing(tmp_path: Path) -> None:
    from upstream_server import BOT_WALL_HTML, huge

    with ReplayServer(None) as srv:
        srv.route("/all/", fixed(200, BOT_WALL_HTML))  # lore's anti-bot page, status 200
        srv.route("/rest/", huge(50 * 1024 * 1024))  # bugzilla: 50 MB (cut off at the size cap)
        srv.route("/upstream/", fixed(200, b'{"version": 1, "bugs": [{"title": ', "application/json"))  # cut JSON
        srv.route("/v6.x/", fixed(200, "<html><body>not a ChangeLog \x00\xff</body></html>"))  # HTML, not git log
        s = settings(tmp_path, srv.url, sigdir(tmp_path, OWN_YAML, PARENT_YAML),
                     SIGMATCH_UPSTREAM_MAX_BYTES=1024 * 1024)
        report = refresh(("stable", "upstream"), settings=settings_with(s))
    assert report.unchanged and report.curated["notes"]
    cat = catalog_of(s)
    assert stable_of(cat.get("own-widget-null"))["6.6"].version == "6.6.30"
    assert all(r.found is None for b in cat.bugs for r in b.references)

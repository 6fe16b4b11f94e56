from pathlib import Path

import yaml

from serving.bots.slack.app import SHORTCUT

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack" / "manifest.yml"


def test_the_slack_manifest_asks_for_what_the_bot_handles_and_no_more() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"users:read.email", "chat:write", "commands", "app_mentions:read", "im:history"} <= scopes
    assert not {s for s in scopes if s.endswith(":write") and s != "chat:write"}  # no other write access
    assert not {"channels:history", "groups:history", "files:read"} & scopes  # never reads channels or files
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/sillok"]
    assert [s["callback_id"] for s in manifest["features"]["shortcuts"]] == [SHORTCUT]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.im", "member_joined_channel", "member_left_channel"}
    urls = {
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    }
    assert urls == {"https://sillok.example.com/slack/events"}

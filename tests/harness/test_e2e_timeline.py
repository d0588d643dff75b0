"""The e2e timeline merges its pytest-xdist workers' steps in the order they happened."""

from __future__ import annotations

import json
import time

from tests.e2e.timeline import Timeline


def test_workers_steps_merge_in_time_order_and_keep_their_figures() -> None:
    controller = Timeline()
    first, second = Timeline(), Timeline()
    with first.step("install"):
        time.sleep(0.01)
    with second.step("backup"):
        pass
    with first.step("upgrade"):
        pass
    first.figure("rto seconds", 21.7)
    second.figure("retention kept", 2)
    second.notes["backup"] = "NOTES"

    # The dumps travel over execnet's channel; JSON round-trip them as the strictest stand-in.
    controller.merge(json.loads(json.dumps(second.dump())), "gw1")
    controller.merge(json.loads(json.dumps(first.dump())), "gw0")

    assert [step.name for step in controller.steps] == [
        "[gw0] install", "[gw1] backup", "[gw0] upgrade"
    ]  # fmt: skip
    starts = [step.start for step in controller.steps]
    assert starts == sorted(starts)
    assert starts[0] >= 0
    assert controller.figures == {"rto seconds": 21.7, "retention kept": 2}
    assert controller.notes == {"backup": "NOTES"}
    rendered = controller.render()
    assert "[gw1] backup" in rendered
    assert "3 steps, 0 failed" in rendered

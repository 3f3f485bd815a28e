"""Survey answers by voice: the survey flows carry the Mandarin words for each answer, and
a spoken answer (``speech:3`` in the IVR path, as the runner records it) counts like the
key — a spoken 不满意 reopens the ticket just as a pressed 3 does."""

from __future__ import annotations

from pathlib import Path

from callcenter.ivr.loader import load_flows
from callcenter.services.surveys import answers

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"
QUESTIONS = [{"key": "q_quality"}, {"key": "q_staff"}, {"key": "q_supervisor"}, {"key": "q_designer"}]


def test_spoken_answers_count_like_keys():
    path = ["q_quality", "speech:1", "q_staff", "speech:silence", "key:2", "q_supervisor", "speech:nomatch",
            "speech:3", "q_designer", "key:1"]
    assert answers.answers_from_path(path, QUESTIONS) == {"q_quality": 1, "q_staff": 2, "q_supervisor": 3,
                                                          "q_designer": 1}
    assert answers.overall(answers.answers_from_path(path, QUESTIONS), QUESTIONS) == answers.DISSATISFIED


def test_every_survey_question_listens_for_the_three_answers_in_mandarin():
    flows = load_flows(FLOWS)
    for name in ("survey", "survey_construction"):
        nodes = flows[name].nodes
        assert nodes, name
        for node_id, node in nodes.items():
            assert node.speech is not None, f"{name}.{node_id} takes no spoken answer"
            words = node.speech.phrases["cmn"]
            assert set(words) == {"1", "2", "3"}, (name, node_id)
            assert words["1"][0] == "满意" and words["2"][0] == "一般" and words["3"][0] == "不满意"

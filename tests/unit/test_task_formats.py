"""llama-perplexity's task file formats, and the conversions of the shared originals into them."""
from pathlib import Path

import pytest

from leaderboard.domain.task_formats import (ChoiceTask, TaskFormatError, choice_tasks_from_arc_jsonl,
                                             choice_tasks_from_mmlu_csv, convert_original, count_tasks,
                                             decode_choice_tasks, encode_choice_tasks, parse_hellaswag,
                                             parse_winogrande_csv, winogrande_csv_from_jsonl)
from tests.conftest import SHARED_DATA


def test_it_round_trips_the_multiple_choice_binary():
    tasks = [ChoiceTask("Question: 2+2?\nAnswer:", ("3", "4", "five"), (0, 1, 0)),
             ChoiceTask("Q é", ("a",), (1,), ("x", "y"), (1, 1))]
    data = encode_choice_tasks(tasks)
    assert decode_choice_tasks(data) == tasks
    assert decode_choice_tasks(data, [1]) == tasks[1:]
    assert count_tasks("multiple_choice", data) == 2


def test_it_converts_all_of_arc_challenge_and_reads_it_back():
    text = (SHARED_DATA / "arc" / "ARC-Challenge-Test.jsonl").read_text()
    tasks = choice_tasks_from_arc_jsonl(text)
    assert len(tasks) == 1172
    assert sorted({len(t.answers) for t in tasks}) == [3, 4, 5]
    assert all(sum(t.labels) == 1 for t in tasks)
    fmt, data = convert_original("arc", [text])
    assert fmt == "multiple_choice" and decode_choice_tasks(data) == tasks
    assert tasks[0].question.startswith("Question: ") and tasks[0].question.endswith("\nAnswer:")


def test_it_converts_mmlu_subject_files_with_quoted_newlines():
    files = sorted((SHARED_DATA / "mmlu" / "val").glob("*.csv"))
    tasks = [t for f in files for t in choice_tasks_from_mmlu_csv(f.read_text())]
    assert len(tasks) == 1542
    assert all(len(t.answers) == 4 and sum(t.labels) == 1 for t in tasks)
    assert any("\n" in t.question[:-len("\nAnswer:")] for t in tasks)
    assert decode_choice_tasks(encode_choice_tasks(tasks)) == tasks


def test_it_converts_winogrande_to_the_csv_llama_perplexity_reads():
    text = (SHARED_DATA / "winogrande" / "dev.jsonl").read_text()
    csv_text = winogrande_csv_from_jsonl(text)
    # the first row perplexity.cpp's comment quotes
    assert csv_text.splitlines()[0] == "0,Sarah was a much better surgeon than Maria so _ always got the easier cases.,Sarah,Maria,2"
    tasks = parse_winogrande_csv(csv_text)
    assert len(tasks) == 1267
    import json
    for line, task in zip(text.splitlines(), tasks):
        item = json.loads(line)
        assert task.first + "_" + task.second == item["sentence"]
        assert task.choices == (item["option1"], item["option2"]) and task.answer == int(item["answer"])


def test_it_skips_a_last_winogrande_line_without_newline_like_llama_cpp():
    assert len(parse_winogrande_csv("0,A _ b.,x,y,1\n1,\"C, _ d.\",x,y,2")) == 1
    assert parse_winogrande_csv('1,"C, _ d.",x,y,2\n')[0].first == "C, "


def test_it_reads_the_hellaswag_text():
    head = "\n".join((SHARED_DATA / "hellaswag" / "hellaswag_val_full.txt").read_text().split("\n")[:12]) + "\n"
    tasks = parse_hellaswag(head)
    assert len(tasks) == 2 and all(0 <= t.gold <= 3 and len(t.endings) == 4 for t in tasks)
    with pytest.raises(TaskFormatError):
        parse_hellaswag("a\n1\nb\n")

"""The task files llama-perplexity reads, and conversions of the original datasets into them (no I/O).

* HellaSwag text (--hellaswag): 6 lines per task: context, gold ending index, four endings.
* WinoGrande CSV (--winogrande): `index,sentence,option1,option2,answer` per line, no header, the sentence
  double-quoted when it holds a comma (load_winogrande_from_csv splits on the first four commas outside quotes
  and strips the quotes of the sentence only).
* Multiple-choice binary (--multiple-choice), little-endian: uint32 n_task, uint32 offset of every task,
  then per task: string question, mc1 answers (uint32 n, n strings, n int32 labels, 1 = correct), mc2 answers
  (same layout; llama.cpp reads but does not score them). A string is uint32 length + bytes.
  ARC and MMLU become "Question: <stem>\\nAnswer:" with the answer texts as continuations (llama.cpp joins
  question and answer with one space), the layout lm-evaluation-harness uses for ARC.
"""
from __future__ import annotations

import csv
import io
import json
import struct
from dataclasses import dataclass, field


class TaskFormatError(ValueError):
    pass


@dataclass(frozen=True)
class HellaswagTask:
    context: str
    gold: int
    endings: tuple[str, str, str, str]


@dataclass(frozen=True)
class WinograndeTask:
    first: str       # the sentence before "_"
    second: str      # the sentence after "_"
    choices: tuple[str, str]
    answer: int      # 1 or 2


@dataclass(frozen=True)
class ChoiceTask:
    question: str
    answers: tuple[str, ...]
    labels: tuple[int, ...]   # 1 marks the correct answer (mc1 has exactly one)
    mc2_answers: tuple[str, ...] = field(default=())
    mc2_labels: tuple[int, ...] = field(default=())

    @property
    def gold(self) -> int:
        return self.labels.index(1)


def as_read_by_f(data: bytes) -> bytes:
    """What `llama-perplexity -f FILE` hands the scorers: the file with one trailing newline dropped."""
    return data[:-1] if data.endswith(b"\n") else data


def parse_hellaswag(text: str) -> list[HellaswagTask]:
    lines = text.split("\n")
    if lines and lines[-1] == "":  # std::getline yields no empty last line after a final newline
        lines.pop()
    if len(lines) % 6:
        raise TaskFormatError("number of lines is not a multiple of 6")
    return [HellaswagTask(lines[i], int(lines[i + 1]), tuple(lines[i + 2:i + 6])) for i in range(0, len(lines), 6)]


def parse_winogrande_csv(text: str) -> list[WinograndeTask]:
    """load_winogrande_from_csv: lines it cannot read are skipped, as llama.cpp skips them."""
    tasks = []
    # llama.cpp stops at a last line without a newline (getline sets eof before it is used): so do we
    for line in text.split("\n")[:-1]:
        commas, quoted = [], False
        for i, ch in enumerate(line):
            if quoted:
                quoted = ch != '"'
            elif ch == ",":
                commas.append(i)
                if len(commas) == 4:
                    break
            elif ch == '"':
                quoted = True
        if len(commas) != 4:
            continue
        c0, c1, c2, c3 = commas
        sentence = line[c0 + 2:c1 - 1] if line[c0 + 1] == '"' else line[c0 + 1:c1]
        if "_" not in sentence:
            continue
        try:
            answer = int(line[c3 + 1:].split()[0])
        except (ValueError, IndexError):
            continue
        if answer not in (1, 2):
            continue
        where = sentence.index("_")
        tasks.append(WinograndeTask(sentence[:where], sentence[where + 1:], (line[c1 + 1:c2], line[c2 + 1:c3]), answer))
    return tasks


def winogrande_csv_from_jsonl(text: str) -> str:
    """WinoGrande's dev.jsonl as the CSV llama-perplexity --winogrande reads (index from 0, file order). It ends
    with an empty line: `-f` drops one trailing newline, and llama.cpp skips a last line without one."""
    rows = []
    for i, line in enumerate(l for l in text.splitlines() if l.strip()):
        item = json.loads(line)
        sentence, o1, o2 = item["sentence"], item["option1"], item["option2"]
        if '"' in sentence or any(c in o for o in (o1, o2) for c in ',"') or "\n" in sentence + o1 + o2:
            raise TaskFormatError(f"item {i} cannot be written in llama.cpp's CSV: {item['qID']}")
        if "," in sentence:
            sentence = f'"{sentence}"'
        rows.append(f"{i},{sentence},{o1},{o2},{item['answer']}\n")
    return "".join(rows) + "\n"


def _pack_string(s: str) -> bytes:
    data = s.encode()
    return struct.pack("<I", len(data)) + data


def _pack_answers(answers: tuple[str, ...], labels: tuple[int, ...]) -> bytes:
    return (struct.pack("<I", len(answers)) + b"".join(_pack_string(a) for a in answers)
            + struct.pack(f"<{len(labels)}i", *labels))


def encode_choice_tasks(tasks: list[ChoiceTask]) -> bytes:
    bodies = [_pack_string(t.question) + _pack_answers(t.answers, t.labels) + _pack_answers(t.mc2_answers, t.mc2_labels)
              for t in tasks]
    offset = 4 + 4 * len(tasks)
    positions = []
    for body in bodies:
        positions.append(offset)
        offset += len(body)
    return struct.pack(f"<I{len(tasks)}I", len(tasks), *positions) + b"".join(bodies)


class _Reader:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TaskFormatError("truncated multiple-choice file")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        return self.take(self.u32()).decode()

    def answers(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        n = self.u32()
        if n > 100:  # llama.cpp's limit
            raise TaskFormatError(f"{n} answers (at most 100)")
        answers = tuple(self.string() for _ in range(n))
        return answers, struct.unpack(f"<{n}i", self.take(4 * n))


def decode_choice_tasks(data: bytes, indices: list[int] | None = None) -> list[ChoiceTask]:
    """Read the tasks at the given indices (all when None) through the offset table, as llama.cpp does."""
    head = _Reader(data, 0)
    n = head.u32()
    if n == 0:
        raise TaskFormatError("no tasks")
    positions = [head.u32() for _ in range(n)]
    tasks = []
    for i in range(n) if indices is None else indices:
        r = _Reader(data, positions[i])
        question = r.string()
        mc1, mc2 = r.answers(), r.answers()
        tasks.append(ChoiceTask(question, mc1[0], tuple(mc1[1]), mc2[0], tuple(mc2[1])))
    return tasks


def count_choice_tasks(data: bytes) -> int:
    return _Reader(data, 0).u32()


def _question(stem: str) -> str:
    return f"Question: {stem.strip()}\nAnswer:"


def choice_tasks_from_arc_jsonl(text: str) -> list[ChoiceTask]:
    tasks = []
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        choices = item["question"]["choices"]
        labels = tuple(int(c["label"] == item["answerKey"]) for c in choices)
        if sum(labels) != 1:
            raise TaskFormatError(f"ARC item {item['id']}: answerKey {item['answerKey']} is not one choice")
        tasks.append(ChoiceTask(_question(item["question"]["stem"]), tuple(c["text"].strip() for c in choices), labels))
    return tasks


def choice_tasks_from_mmlu_csv(text: str) -> list[ChoiceTask]:
    """One MMLU subject file (question,A,B,C,D,answer; no header)."""
    tasks = []
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        if len(row) != 6 or row[5] not in ("A", "B", "C", "D"):
            raise TaskFormatError(f"MMLU row is not question,A,B,C,D,answer: {row[:1]}")
        answers = tuple(a.strip() for a in row[1:5])
        tasks.append(ChoiceTask(_question(row[0]), answers, tuple(int(L == row[5]) for L in "ABCD")))
    return tasks


def count_tasks(fmt: str, data: bytes) -> int:
    """Tasks llama-perplexity would read from a file of this format."""
    if fmt == "hellaswag":
        return len(parse_hellaswag(as_read_by_f(data).decode()))
    if fmt == "winogrande":
        return len(parse_winogrande_csv(as_read_by_f(data).decode()))
    if fmt == "multiple_choice":
        return count_choice_tasks(data)
    raise TaskFormatError(f"unknown format {fmt!r}")


def convert_original(kind: str, texts: list[str]) -> tuple[str, bytes]:
    """An original dataset (its files' texts, in order) as (format, bytes) llama-perplexity reads.
    kind: winogrande (dev.jsonl), arc (ARC-*.jsonl), mmlu (subject CSVs)."""
    if kind == "winogrande":
        if len(texts) != 1:
            raise TaskFormatError("WinoGrande converts from one dev.jsonl")
        return "winogrande", winogrande_csv_from_jsonl(texts[0]).encode()
    if kind == "arc":
        return "multiple_choice", encode_choice_tasks([x for t in texts for x in choice_tasks_from_arc_jsonl(t)])
    if kind == "mmlu":
        return "multiple_choice", encode_choice_tasks([x for t in texts for x in choice_tasks_from_mmlu_csv(t)])
    raise TaskFormatError(f"unknown original dataset kind {kind!r}")

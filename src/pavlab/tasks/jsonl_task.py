"""A task from the user's own JSONL file(s): one problem per line, graded by a chosen grader.

Splits: with only `path`, every split (train, val and test) reads that same file, which suits a
file meant for evaluation only; give `split_paths` (split -> file) to keep splits apart. The
prompt is the question field exactly as written (the user controls any instruction); the final
answer is the last \\boxed{}, else "answer is X", else the last number.
"""

from __future__ import annotations

from pathlib import Path

from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl
from pavlab.tasks.base import SPLITS, Problem
from pavlab.tasks.grading import GRADERS, AnswerGradedTask


class JsonlTask(AnswerGradedTask):
    """Problems from your JSONL file(s): question and answer fields, graded by exact/numeric/math-verify."""

    name = "jsonl"

    def __init__(self, path: str | Path | None = None, question_field: str = "question", answer_field: str = "answer",
                 id_field: str | None = None, grader: str = "math-verify",
                 split_paths: dict[str, str | Path] | None = None) -> None:
        if grader not in GRADERS:
            raise PavlabError(f"unknown grader '{grader}' (expected one of {', '.join(GRADERS)})", field="grader")
        unknown = sorted(set(split_paths or {}) - set(SPLITS))
        if unknown:
            raise PavlabError(f"unknown split {unknown[0]!r} (expected one of {', '.join(SPLITS)})",
                              field="split_paths")
        if path is None and not split_paths:
            raise PavlabError("the jsonl task needs a file (--task.path FILE.jsonl)", field="path")
        self.path = Path(path) if path is not None else None
        self.split_paths = {split: Path(p) for split, p in (split_paths or {}).items()}
        self.question_field, self.answer_field, self.id_field = question_field, answer_field, id_field
        self.grader = grader

    def file_for(self, split: str) -> Path:
        """The file a split reads: its own from `split_paths`, else the shared `path`."""
        if split not in SPLITS:
            raise PavlabError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})", field="split")
        chosen = self.split_paths.get(split, self.path)
        if chosen is None:
            raise PavlabError(f"no file for split '{split}' (give path or split_paths['{split}'])", field="split_paths")
        return chosen

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        """The first n problems of the split's file, in file order (the seed is unused)."""
        path = self.file_for(split)
        required = [self.question_field, self.answer_field] + ([self.id_field] if self.id_field else [])
        problems: list[Problem] = []
        seen: set[str] = set()
        rows = 0
        for line, row in iter_jsonl(path, required=required):
            rows += 1
            if n is not None and len(problems) >= n:
                break
            for name in (self.question_field, self.answer_field):
                if not isinstance(row[name], (str, int, float)) or isinstance(row[name], bool):
                    raise PavlabError("must be a string or a number", path=path, line=line, field=name)
            problem_id = str(row[self.id_field]) if self.id_field else f"{path.stem}-{line}"
            if problem_id in seen:
                raise PavlabError(f"duplicate id {problem_id!r}", path=path, line=line, field=self.id_field)
            seen.add(problem_id)
            meta = {key: value for key, value in row.items()
                    if key not in (self.question_field, self.answer_field, self.id_field)}
            problems.append(Problem(id=problem_id, question=str(row[self.question_field]),
                                    answer=str(row[self.answer_field]), meta=meta))
        if not rows:
            raise PavlabError("holds no problems (expected one JSON object per line with "
                              f"'{self.question_field}' and '{self.answer_field}')", path=path)
        return problems

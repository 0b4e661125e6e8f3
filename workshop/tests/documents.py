"""Reading the repository's markdown the way a learner uses it: the shell commands of its
```sh blocks, its links, and its references to code (`path/file.py:name`).

Conventions (workshop/README.md, "Writing for this course"):
- ```sh (or bash, shell) blocks hold commands a learner types, relative to the repository
  root; a `cd` in the block moves the rest of the block. Output goes in ```text blocks.
- ```sh runnable marks a block that is quick, needs no running stage and changes nothing
  outside var/: the tests run it.
- `01-monolith/shop/services.py:place_order` is a reference to code: the file exists and
  defines the dotted name.
- A stage's picture is a ```mermaid flowchart whose first comment says
  `%% The processes of <stage>/Procfile`: each process is a plain box `id["<its Procfile
  name>: what it is"]`; databases `id[("...")]`, the broker `id{{"..."}}`, the client
  `id(("..."))`, files `id[/"..."/]`; every link joins declared nodes, and labels starting
  `read ` and `checkout ` draw the path of a read and of a checkout.
"""

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

SHELL_LANGUAGES = {"sh", "bash", "shell"}
# Programs a command may start with; anything else is a typo or a tool the course does not
# install (a path like .venv/bin/pytest is checked as a path instead).
KNOWN_PROGRAMS = {
    "make",
    "cd",
    "git",
    "curl",
    "python",
    "python3",
    "pytest",
    "docker",
    "diff",
    "less",
    "ls",
    "cat",
    "grep",
    "sort",
    "uniq",
    "seq",
    "head",
    "tail",
    "wc",
    "kill",
    "pkill",
    "pgrep",
    "ss",
    "psql",
    "sqlite3",
    "rabbitmqctl",
    "rabbitmq-server",
    "pg_ctlcluster",
    "honcho",
    "export",
    "echo",
    "sleep",
    "time",
    "env",
    "rm",
    "mkdir",
    "cp",
    "mv",
    "touch",
    "true",
    "jq",
    "watch",
    "lsof",
    "ps",
    "patch",
    "open",
    "xdg-open",
    "brew",
    "apt",
    "sudo",
    "wsl",
    "py",
    "printf",
    "read",
    "test",
    "[",
    "unset",
    "source",
    ".",
    "tee",
    "xargs",
    "find",
    "sed",
    "awk",
    "lint-imports",
    "locust",
    "ruff",
    "pip",
    "uv",
    "date",
    "timeout",
    "set",
    "wait",
    "bash",
    # Chapter 5's cluster: read and checked like the rest (files, make targets, and by
    # test_k8s.py the resources they name), never run: no cluster where the tests run.
    "kubectl",
    "kind",
    "minikube",
}
SHELL_WORDS = {
    "for",
    "in",
    "do",
    "done",
    "while",
    "until",
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "!",
    "{",
    "}",
    "(",
    ")",
}
CONTROL = {"|", "||", "&&", ";", "&", "(", ")", ";;", "|&"}
REDIRECTS = {">", ">>", "<", "2>", "2>&1", ">&", "&>", "<<", "<<<", "<&"}
FILE_SUFFIXES = (
    ".py",
    ".md",
    ".toml",
    ".ini",
    ".yml",
    ".yaml",
    ".lock",
    ".patch",
    ".sh",
    ".json",
    ".cfg",
    ".proto",
    ".txt",
    ".html",
)
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>[A-Za-z_]+)\1")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>[^`]*)$")


@dataclass
class CodeBlock:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    flags: set[str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    @property
    def runnable(self) -> bool:
        return "runnable" in self.flags


@dataclass
class Command:
    """One simple command: its words after the VAR=value prefixes, and the folder it runs in."""

    words: list[str]
    cwd: Path


def code_blocks(path: Path) -> list[CodeBlock]:
    """The fenced blocks of a markdown file (indented ones, in lists, included)."""
    blocks, open_block = [], None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = FENCE.match(line)
        if open_block is None and match:
            info = match.group("info").split()
            open_block = (
                number,
                info[0].lower() if info else "",
                set(info[1:]),
                len(match.group("indent")),
                [],
            )
        elif open_block is not None and line.strip() == "```":
            start, language, flags, indent, lines = open_block
            blocks.append(CodeBlock(path, start, language, flags, "\n".join(lines)))
            open_block = None
        elif open_block is not None:
            indent = open_block[3]
            open_block[4].append(line[indent:] if line[:indent].strip() == "" else line)
    return blocks


def prose(path: Path) -> str:
    """The markdown without its fenced blocks (where links and references are read)."""
    kept, fenced = [], False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return "\n".join(kept)


def logical_lines(script: str) -> list[str]:
    """The block's commands: `\\` continuations joined, comments and heredoc bodies dropped."""
    lines, pending, heredoc_end = [], "", None
    for raw in script.splitlines():
        if heredoc_end is not None:
            if raw.strip() == heredoc_end:
                heredoc_end = None
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if match := HEREDOC.search(line):
            heredoc_end = match.group("word")
            line = line[: match.start()]
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return lines


def commands(script: str, root: Path) -> list[Command]:
    """Every simple command of a shell block, with the folder each runs in (`cd` followed)."""
    found, cwd = [], root
    clones: dict[str, Path] = {}  # `git clone <url> <folder>`: the folder is this repository
    for line in logical_lines(script):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError as error:  # an unclosed quote
            raise ValueError(f"cannot read {line!r}: {error}") from None
        words: list[str] = []
        for token in [*tokens, ";"]:
            if token in CONTROL or set(token) <= set(";&|()"):
                if words:
                    command = _command(words, cwd)
                    if command:
                        found.append(command)
                        if command.words[:2] == ["git", "clone"] and len(command.words) > 3:
                            clones[command.words[3]] = root  # a clone of this repository
                        if command.words[0] == "cd" and len(command.words) > 1:
                            target = command.words[1]
                            cwd = clones.get(target) or (cwd / target).resolve()
                            command.words[1] = str(cwd) if target in clones else target
                words = []
            else:
                words.append(token)
    return found


def _command(words: list[str], cwd: Path) -> Command | None:
    words = _without_redirections(words)
    while words and (words[0] in SHELL_WORDS or ASSIGNMENT.match(words[0])):
        if words[0] == "for":  # `for x in a b c` has no command
            return None
        words = words[1:]
    return Command(words, cwd) if words else None


def _without_redirections(words: list[str]) -> list[str]:
    kept, skip_next = [], False
    for index, word in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if word.isdigit() and following[:1] in ("<", ">"):  # the 2 of 2>&1, split off by shlex
            continue
        if word in REDIRECTS or re.fullmatch(r"\d?[<>]+&?\d*", word):
            skip_next = not re.fullmatch(r"\d?>&\d", word)
            continue
        kept.append(word)
    return kept


def problems_of(command: Command, root: Path, makefile: "Makefile") -> list[str]:
    """What is wrong with one command, read without running it."""
    program, arguments = command.words[0], command.words[1:]
    problems = []
    if "/" in program:
        if not (command.cwd / program).exists():
            problems.append(f"no program {program} (from {_rel(command.cwd, root)}/)")
    elif program not in KNOWN_PROGRAMS:
        problems.append(f"unknown program {program!r}")
    if program == "make":
        problems += makefile.problems_of(arguments)
    if program == "cd" and arguments and not (command.cwd / arguments[0]).is_dir():
        problems.append(f"no folder {arguments[0]} (from {_rel(command.cwd, root)}/)")
    for argument in arguments:
        missing = not (command.cwd / argument).exists()
        if _names_a_file(argument, command.cwd) and missing and not _is_generated(argument):
            problems.append(f"no file {argument} (from {_rel(command.cwd, root)}/)")
    return problems


def _names_a_file(word: str, cwd: Path) -> bool:
    """A relative path of the repository, as opposed to a URL, an option or a header."""
    if "://" in word or word.startswith(("-", "/", "$", "~", "<")) or "$" in word or "*" in word:
        return False
    if "=" in word or "{" in word:
        return False
    if word.endswith(FILE_SUFFIXES) and "/" in word:
        return True
    first = word.split("/")[0]
    return "/" in word and first not in ("", ".") and (cwd / first).exists()


def _is_generated(word: str) -> bool:
    """Made by the commands of the course, not committed: var/, .venv/, proto/_generated/."""
    parts = Path(word).parts
    return bool(set(parts) & {"var", ".venv", "_generated"})


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


@dataclass
class Makefile:
    targets: set[str]
    variables: set[str]

    @classmethod
    def read(cls, path: Path) -> "Makefile":
        text = path.read_text()
        targets = set(re.findall(r"^([a-z][a-z0-9_-]*):", text, re.MULTILINE))
        variables = set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*\??=", text, re.MULTILINE))
        return cls(targets, variables)

    def problems_of(self, arguments: list[str]) -> list[str]:
        problems = []
        for argument in arguments:
            if argument.startswith("-"):
                continue
            if "=" in argument:
                name = argument.partition("=")[0]
                if name not in self.variables:
                    problems.append(f"make has no variable {name}")
            elif argument not in self.targets:
                problems.append(f"make has no target {argument!r}")
        return problems


# ---- References to code and links ----------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def code_references(text: str, top_level: set[str]) -> list[tuple[str, str]]:
    """(path, dotted name or "") for every `path` or `path:name` whose path starts with a
    top-level entry of the repository (01-monolith/..., workshop/..., Makefile)."""
    found = []
    for span in CODE_SPAN.findall(text):
        match = re.fullmatch(r"(?P<path>[\w./-]+?)(?::(?P<name>[A-Za-z_][\w.]*))?", span.strip())
        if not match:
            continue
        path = match.group("path")
        if _is_generated(path):
            continue
        if path.split("/")[0] in top_level and ("/" in path or path in top_level):
            found.append((path.rstrip("/"), match.group("name") or ""))
    return found


def defines(source: str, name: str, suffix: str) -> bool:
    """Whether the file defines every part of a dotted name (Class.method: both)."""
    for part in name.split("."):
        escaped = re.escape(part)
        if suffix == ".proto":
            pattern = rf"^\s*(service|rpc|message|enum)\s+{escaped}\b"
        else:
            pattern = (
                rf"^\s*(async\s+def|def|class)\s+{escaped}\b"
                rf"|^\s*{escaped}\s*(:[^=\n]+)?=[^=]"
                rf"|^\s*\[{escaped}\]"  # a section of an ini/toml file
            )
        if not re.search(pattern, source, re.MULTILINE):
            return False
    return True


def links(text: str) -> list[str]:
    return [match.group("target") for match in LINK.finditer(text)]


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of a page's headings."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            anchor = github_anchor(match.group(1))
            if anchor in counts:
                counts[anchor] += 1
                found.add(f"{anchor}-{counts[anchor]}")
            else:
                counts[anchor] = 0
                found.add(anchor)
    return found


def github_anchor(heading: str) -> str:
    """Lower case; markdown links reduced to their text; punctuation dropped; spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_files(root: Path) -> list[Path]:
    """Every committed or new markdown file, as git sees the tree (nothing under .venv)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a clone: a downloaded archive
        skipped = {".venv", "var", "node_modules", ".git"}
        listed = [
            str(path.relative_to(root))
            for path in root.rglob("*.md")
            if not skipped & set(path.relative_to(root).parts)
        ]
    return sorted(root / name for name in listed if (root / name).is_file())


# --- a stage's picture ------------------------------------------------------------------------
PICTURE_MARKER = re.compile(
    r"^\s*%% The processes of (?P<stage>[0-9]{2}-[a-z-]+)/Procfile", re.MULTILINE
)
PICTURE_NODE = re.compile(
    r'^(?P<id>\w+)(?P<shape>\[\(|\(\(|\{\{|\[/|\[)"(?P<label>[^"]*)"(?:\)\]|\)\)|\}\}|/\]|\])$'
)
# `a --> b`, `a --- b`, `a -.-> b`, `a -- "label" --> b`
PICTURE_LINK = re.compile(r"^(?P<source>\w+)\s+(?P<link>[-.=][^>]*[->])\s*(?P<target>\w+)$")
PROCESS_SHAPE = "["


def stage_pictures(path: Path) -> list[CodeBlock]:
    """The mermaid blocks of a page that draw a stage's processes (see the module's notes)."""
    return [
        block
        for block in code_blocks(path)
        if block.language == "mermaid" and PICTURE_MARKER.search(block.text)
    ]


def procfile_processes(procfile: Path) -> set[str]:
    """The process names of a Procfile (`release` included: it runs before the others)."""
    return set(re.findall(r"^([\w-]+):", procfile.read_text(), re.MULTILINE))


def picture_problems(text: str, processes: set[str]) -> list[str]:
    """What is wrong with a stage's picture, given its Procfile's processes: a box that is no
    process of it, a process it leaves out (but `release`, which runs once before), a link to
    a node never declared (mermaid would draw it as a box: a process the Procfile lacks), a
    line this reader does not know, and a missing read or checkout path."""
    lines = [line.strip() for line in text.splitlines()]
    marker = PICTURE_MARKER.search(text)
    if not marker:
        return ["no `%% The processes of <stage>/Procfile` comment"]
    procfile = f"{marker.group('stage')}/Procfile"
    problems, declared, shown, labels = [], set(), set(), []
    for line in lines[1:]:
        if not line or line.startswith(("%%", "subgraph ", "classDef ", "class ")) or line == "end":
            continue
        node, link = PICTURE_NODE.match(line), PICTURE_LINK.match(line)
        if node:
            declared.add(node.group("id"))
            if node.group("shape") == PROCESS_SHAPE:
                name = node.group("label").split(":")[0].strip()
                shown.add(name)
                if name not in processes:
                    problems.append(f"the box {name!r} is not a process of {procfile}")
        elif link:
            for end in ("source", "target"):
                if link.group(end) not in declared:
                    problems.append(f"{line!r}: {link.group(end)} is not declared before it")
            labels += re.findall(r'"([^"]*)"', link.group("link"))
        else:
            problems.append(f"{line!r}: not a node or a link this reader knows")
    for missing in sorted(processes - shown - {"release"}):
        problems.append(f"{procfile} runs {missing!r}, which the picture leaves out")
    for path in ("read", "checkout"):
        if not any(label.startswith(f"{path} ") for label in labels):
            problems.append(f"no link labelled '{path} N: ...': the path of a {path} is missing")
    return problems


# --- the day's timetable, and which exercises are done in class --------------------------------
# The agenda (workshop/README.md, "A one-day session") and the instructor notes' copy of it
# (instructor/README.md, "The day") are tables whose first cell is a start time, h:mm; a block
# lasts until the next row's time. A chapter's header says `**Time:** N minutes in class`; an
# instructor page says its block as `h:mm to h:mm` near its top, and its timing table (rows
# `| h:mm | ...`, with a minutes column on some pages) walks the block. In a chapter's
# Exercises sections, every numbered exercise starts with its tag, `*In class, N min...:*` or
# `*Homework:*`, and a checked one names its id in `make check EXERCISE=<id>`.

TIME_ROW = re.compile(r"^\|\s*(?P<time>\d{1,2}:\d\d)\s*\|(?P<rest>.*)$")
CHAPTER_TIME = re.compile(r"\*\*Time:\*\*\s+(?P<minutes>\d+) minutes in class")
BLOCK_SPAN = re.compile(r"(?P<start>\d{1,2}:\d\d) to (?P<end>\d{1,2}:\d\d)")
EXERCISE_ITEM = re.compile(r"^(?P<number>\d+)\. (?P<text>.*)$")
EXERCISE_TAG = re.compile(r"^\*(?:In class, (?P<minutes>\d+) min[^*:]*|(?P<homework>Homework)):\*")
CHECK_ID = re.compile(r"make check EXERCISE=(?P<id>[a-z0-9-]+)")


def clock_of(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def section(markdown: str, heading_starts: str) -> str:
    """The text under the first heading that starts with heading_starts, to the next heading
    of the same or a higher level ("" when there is none)."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^(#+)\s+(.*)$", line)
        if match and match.group(2).startswith(heading_starts):
            level = len(match.group(1))
            body = []
            for other in lines[index + 1 :]:
                heading = re.match(r"^(#+)\s", other)
                if heading and len(heading.group(1)) <= level:
                    break
                body.append(other)
            return "\n".join(body)
    return ""


@dataclass
class Block:
    start: str
    minutes: int | None  # None for the last row (the end)
    what: str  # the rest of the row


def timetable(text: str) -> list[Block]:
    """The rows of the first table in text whose rows start with a time, each lasting until
    the next row's time."""
    rows = [match for line in text.splitlines() if (match := TIME_ROW.match(line.strip()))]
    if not rows:
        return []
    blocks = []
    for row, following in zip(rows, rows[1:] + [None], strict=True):
        minutes = None
        if following is not None:
            minutes = minutes_of(following.group("time")) - minutes_of(row.group("time"))
        blocks.append(Block(row.group("time"), minutes, row.group("rest")))
    return blocks


def chapter_blocks(agenda: list[Block]) -> dict[int, Block]:
    """The agenda's blocks that teach a chapter, by the chapter's number."""
    found = {}
    for block in agenda:
        match = re.search(r"chapter (\d+)", block.what)
        if match:
            found[int(match.group(1))] = block
    return found


def chapter_minutes(markdown: str) -> int | None:
    """The minutes in class a chapter's header promises (None: it promises none)."""
    header = "\n".join(markdown.splitlines()[:6])
    match = CHAPTER_TIME.search(header)
    return int(match.group("minutes")) if match else None


def instructor_span(markdown: str) -> tuple[str, str] | None:
    """The block an instructor page says it teaches, from its first lines."""
    match = BLOCK_SPAN.search("\n".join(markdown.splitlines()[:6]))
    return (match.group("start"), match.group("end")) if match else None


def timing_problems(markdown: str, start: str, end: str) -> list[str]:
    """What an instructor page's timing table says against its block start..end: the first
    row at the start, the rows in order and inside the block, and where the table has a
    minutes column, each row's minutes reaching the next row's time and the block's end."""
    problems = []
    rows = timetable(markdown)
    if not rows:
        return ["no timing table (rows starting with a time, h:mm)"]
    if rows[0].start != start:
        problems.append(f"the timing table starts at {rows[0].start}, the block at {start}")
    for row in rows:
        if not minutes_of(start) <= minutes_of(row.start) < minutes_of(end):
            problems.append(f"the row at {row.start} is outside the block {start} to {end}")
    for row, following in zip(rows, rows[1:], strict=False):
        if minutes_of(following.start) <= minutes_of(row.start):
            problems.append(f"the rows at {row.start} and {following.start} are out of order")
    stated = [re.match(r"\s*(\d+)\s*\|", row.what) for row in rows]
    if all(stated):
        clock = minutes_of(start)
        for row, minutes in zip(rows, stated, strict=True):
            if minutes_of(row.start) != clock:
                problems.append(f"the row at {row.start} should start at {clock_of(clock)}")
            clock = minutes_of(row.start) + int(minutes.group(1))
        if clock != minutes_of(end):
            problems.append(f"the timing table's minutes end at {clock_of(clock)}, not at {end}")
    return problems


@dataclass
class ExerciseMark:
    number: int
    in_class: bool | None  # None: no tag
    minutes: int | None
    checks: list[str]  # the ids of `make check EXERCISE=<id>` in its text


def exercise_marks(markdown: str) -> list[ExerciseMark]:
    """The numbered exercises of a chapter's Exercises sections, with their tags."""
    marks: list[ExerciseMark] = []
    inside = fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else re.match(r"^#+\s+(.*)$", line)
        if heading:
            inside = "Exercises" in heading.group(1)
            continue
        if not inside:
            continue
        item = None if fenced else EXERCISE_ITEM.match(line)
        if item:
            tag = EXERCISE_TAG.match(item.group("text"))
            marks.append(
                ExerciseMark(
                    number=int(item.group("number")),
                    in_class=None if tag is None else tag.group("homework") is None,
                    minutes=int(tag.group("minutes")) if tag and tag.group("minutes") else None,
                    checks=[],
                )
            )
        if marks:
            marks[-1].checks.extend(
                found for found in CHECK_ID.findall(line) if found not in marks[-1].checks
            )
    return marks


IN_CLASS_CHECKED_MINUTES = range(15, 31)


def day_problems(workshop: Path, registered: dict[str, str]) -> list[str]:
    """Where the day does not add up in the workshop folder: the agenda against the instructor
    notes' copy, each instructor page against its block, each chapter's header against its
    block, the exercises' tags, and the one checked exercise each chapter does in class
    (registered: each exercise id of exercises.toml and the chapter it names)."""
    problems: list[str] = []
    agenda = timetable(section((workshop / "README.md").read_text(), "A one-day session"))
    day = timetable(section((workshop / "instructor" / "README.md").read_text(), "The day"))
    if len(agenda) < 2:
        return ["README.md: no agenda table under 'A one-day session'"]
    if [(b.start, b.minutes) for b in day] != [(b.start, b.minutes) for b in agenda]:
        problems.append("instructor/README.md: 'The day' has other times than the agenda")
    for block in day[:-1]:
        page = re.search(r"\]\((?P<page>[\w.-]+\.md)\)", block.what)
        if page is None:
            continue  # lunch
        name = f"instructor/{page.group('page')}"
        text = (workshop / "instructor" / page.group("page")).read_text()
        end = clock_of(minutes_of(block.start) + block.minutes)
        span = instructor_span(text)
        if span is None:
            problems.append(f"{name}: does not say its block, h:mm to h:mm")
            continue
        if span != (block.start, end):
            problems.append(
                f"{name}: teaches {span[0]} to {span[1]}, the agenda {block.start} to {end}"
            )
        problems.extend(f"{name}: {problem}" for problem in timing_problems(text, *span))
    blocks = chapter_blocks(agenda)
    for chapter in sorted(workshop.glob("0[1-9]-*.md")):
        text = chapter.read_text()
        minutes = chapter_minutes(text)
        block = blocks.get(int(chapter.name[:2]))
        if minutes != (block.minutes if block else None):
            problems.append(
                f"{chapter.name}: the header promises {minutes} minutes in class, the agenda "
                f"{block.minutes if block else None}"
            )
        problems.extend(
            f"{chapter.name}: {p}" for p in marks_problems(chapter.name, text, registered)
        )
        checked = [mark for mark in exercise_marks(text) if mark.checks and mark.in_class]
        notes = workshop / "instructor" / chapter.name
        for mark in checked:
            if stated_minutes(notes.read_text(), mark.checks[0]) != mark.minutes:
                problems.append(
                    f"instructor/{chapter.name}: the timing table does not give "
                    f"{mark.checks[0]} the chapter's {mark.minutes} minutes"
                )
    return problems


def stated_minutes(notes: str, exercise_id: str) -> int | None:
    """The minutes an instructor page's timing table gives an exercise: the row's minutes
    column, or the first `N min` after the id in the row (None: no row names it)."""
    for row in timetable(notes):
        named = re.search(rf"(?<![\w-]){re.escape(exercise_id)}(?![\w-])", row.what)
        if named:
            column = re.match(r"\s*(\d+)\s*\|", row.what)
            after = re.search(r"(\d+) min", row.what[named.end() :])
            found = column or after
            return int(found.group(1)) if found else None
    return None


def marks_problems(name: str, text: str, registered: dict[str, str]) -> list[str]:
    """A chapter's exercises: each tagged in class or homework, in-class minutes inside the
    block, and exactly one checked exercise in class, 15 to 30 minutes, registered for it."""
    marks = exercise_marks(text)
    if not marks:
        return ["no numbered exercises in an Exercises section"]
    problems = []
    untagged = [mark.number for mark in marks if mark.in_class is None]
    if untagged:
        problems.append(
            f"exercises {untagged} start with neither *In class, N min:* nor *Homework:*"
        )
    in_class = [mark for mark in marks if mark.in_class]
    block = chapter_minutes(text)
    total = sum(mark.minutes for mark in in_class)
    if block is None and in_class:
        problems.append("not in the day, yet it marks exercises in class")
    elif block is not None and total > block:
        problems.append(f"{total} minutes of exercises in class in a {block}-minute block")
    checked = [mark for mark in marks if mark.checks]
    checked_in_class = [mark for mark in checked if mark.in_class]
    if not checked:
        return problems
    if len(checked_in_class) != 1:
        numbers = [mark.number for mark in checked_in_class]
        return [*problems, f"exactly one checked exercise in class, not {numbers}"]
    (mark,) = checked_in_class
    if mark.minutes not in IN_CLASS_CHECKED_MINUTES:
        problems.append(
            f"exercise {mark.number} takes {mark.minutes} minutes in class, not 15 to 30"
        )
    for exercise_id in mark.checks:
        if registered.get(exercise_id, "").split("#")[0] != name:
            problems.append(f"{exercise_id} is not registered in exercises.toml for {name}")
    return problems

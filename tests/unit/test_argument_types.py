"""Arguments are checked against perform()'s annotations at enqueue, for the types JSON carries."""

from __future__ import annotations

import typing
from typing import Any, Literal, NewType, Optional, TypedDict, Union

import pytest
import redis

from jobs import Job, PayloadError
from jobs.model import types_check
from jobs.model.payload import PoisonPayload, decode

UserId = NewType("UserId", int)


class Address(TypedDict):
    street: str


class Money:
    """An application's own class: not JSON's, so never checked."""


class Typed(Job):
    name = "tests.unit.Typed"

    def perform(
        self,
        count: int = 0,
        ratio: float = 0.0,
        text: str = "",
        flag: bool = False,
        nothing: None = None,
        ids: list[int] | None = None,
        tags: dict[str, str] | None = None,
        maybe: Optional[int] = 0,  # noqa: UP045 - the spelling under test
        either: Union[int, str] = 0,  # noqa: UP007 - the spelling under test
        grid: list[list[float]] | None = None,
        plan: Literal["monthly", "yearly"] = "monthly",
        user: UserId = UserId(0),
        note: str = None,  # type: ignore[assignment]  # noqa: RUF013 - implicit Optional: its default is accepted
    ) -> None:
        """Takes one argument of each checked kind."""


class Unchecked(Job):
    name = "tests.unit.Unchecked"

    def perform(
        self,
        anything: Any = None,
        address: Address | None = None,
        money: Money | None = None,
        mixed: int | Money = 0,
        missing: NoSuchName | None = None,  # type: ignore[name-defined]  # noqa: F821 - never resolves
        objects: list[Money] | None = None,
    ) -> None:
        """Takes arguments whose annotations cannot be checked (or only their container can)."""


class Extra(Job):
    name = "tests.unit.Extra"

    def perform(self, first: str = "", **rest: int) -> None:
        """Named and extra keyword arguments."""


@pytest.mark.parametrize(
    ("arguments", "argument", "problem"),
    [
        ({"count": "not-an-int"}, "count", "must be int (perform()'s annotation), got str"),
        ({"count": True}, "count", "must be int (perform()'s annotation), got bool"),
        ({"count": 1.5}, "count", "must be int (perform()'s annotation), got float"),
        ({"ratio": False}, "ratio", "must be float (perform()'s annotation), got bool"),
        ({"text": 7}, "text", "must be str (perform()'s annotation), got int"),
        ({"flag": 1}, "flag", "must be bool (perform()'s annotation), got int"),
        ({"nothing": 0}, "nothing", "must be None (perform()'s annotation), got int"),
        ({"ids": [1, "2"]}, "ids", "must be list[int] | None (perform()'s annotation), got str at [1]"),
        ({"ids": {"a": 1}}, "ids", "must be list[int] | None (perform()'s annotation), got dict"),
        (
            {"tags": {"env": 3}},
            "tags",
            "must be dict[str, str] | None (perform()'s annotation), got int at ['env']",
        ),
        ({"maybe": "1"}, "maybe", "must be int | None (perform()'s annotation), got str"),
        ({"either": 1.0}, "either", "must be int | str (perform()'s annotation), got float"),
        (
            {"grid": [[1.0], [2, True]]},
            "grid",
            "must be list[list[float]] | None (perform()'s annotation), got bool at [1] at [1]",
        ),
        (
            {"plan": "weekly"},
            "plan",
            "must be one of 'monthly', 'yearly' (perform()'s annotation), got a str not among them",
        ),
        ({"user": "42"}, "user", "must be int (perform()'s annotation), got str"),
        ({"note": 5}, "note", "must be str (perform()'s annotation), got int"),
    ],
)
def test_an_argument_of_the_wrong_json_type_is_refused_naming_argument_expected_and_given_type(
    fake: redis.Redis, arguments: dict[str, Any], argument: str, problem: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        Typed.enqueue(connection=fake, **arguments)

    assert (caught.value.job, caught.value.argument, caught.value.problem) == (
        "tests.unit.Typed",
        argument,
        problem,
    )
    assert fake.llen("rq:queue:default") == 0


def test_values_of_the_annotated_types_are_accepted(fake: redis.Redis) -> None:
    Typed.enqueue(
        connection=fake,
        count=3,
        ratio=2,  # an int is a float
        text="x",
        flag=True,
        nothing=None,
        ids=[1, 2],
        tags={"env": "prod"},
        maybe=None,
        either="x",
        grid=[[1, 2.5], []],
        plan="yearly",
        user=42,
        note=None,
    )
    assert fake.llen("rq:queue:default") == 1


def test_annotations_it_cannot_check_leave_their_arguments_alone(fake: redis.Redis) -> None:
    Unchecked.enqueue(
        connection=fake,
        anything=["x"],
        address="not a dict, but TypedDict is not checked",
        money="12.50",
        mixed="x",
        missing=3,
        objects=[1, "two"],
    )
    assert fake.llen("rq:queue:default") == 1


def test_a_list_of_a_class_of_the_application_is_still_checked_to_be_a_list(fake: redis.Redis) -> None:
    with pytest.raises(PayloadError, match=r"argument 'objects' .* must be list \| None .*, got str$"):
        Unchecked.enqueue(connection=fake, objects="one")


def test_extra_keyword_arguments_are_checked_against_the_annotation_of_kwargs(fake: redis.Redis) -> None:
    Extra.enqueue(connection=fake, first="a", second=2)
    with pytest.raises(PayloadError) as caught:
        Extra.enqueue(connection=fake, first="a", second="2")
    assert (caught.value.argument, caught.value.problem) == (
        "second",
        "must be int (perform()'s annotation), got str",
    )


def test_annotations_are_evaluated_once_per_job_class() -> None:
    types_check.expectations.cache_clear()
    for _ in range(3):
        types_check.expectations(Typed)
    info = types_check.expectations.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_a_postponed_annotation_that_names_a_later_class_is_resolved_when_checked() -> None:
    namespace: dict[str, Any] = {}
    exec(  # a module of the application's, with postponed annotations and a type defined after the job
        "from __future__ import annotations\n"
        "from jobs import Job\n"
        "class Later(Job):\n"
        "    name = 'tests.unit.Later'\n"
        "    def perform(self, when: Stamp, count: int) -> None: ...\n"
        "Stamp = int\n",
        namespace,
    )
    later = namespace["Later"]
    expected, _, _ = types_check.expectations(later)
    assert {name: e.shown for name, e in expected.items()} == {"when": "int", "count": "int"}


def test_one_annotation_that_cannot_be_resolved_leaves_the_others_checked(fake: redis.Redis) -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "from jobs import Job\n"
        "class HalfResolved(Job):\n"
        "    name = 'tests.unit.HalfResolved'\n"
        "    def perform(self, thing: Nowhere, count: int) -> None: ...\n",
        namespace,
    )
    half = namespace["HalfResolved"]
    half.enqueue(connection=fake, thing=object.__name__, count=1)
    with pytest.raises(PayloadError, match=r"argument 'count' .* must be int .*, got str$"):
        half.enqueue(connection=fake, thing=1, count="1")


def test_the_worker_refuses_a_forged_payload_of_the_wrong_type_as_poison() -> None:
    with pytest.raises(PoisonPayload, match=r"argument 'count' of tests.unit.Typed must be int .*, got str"):
        decode({"job": "tests.unit.Typed", "kwargs": {"count": "7"}})

    assert decode({"job": "tests.unit.Typed", "kwargs": {"count": 7}}).kwargs == {"count": 7}


def test_typing_aliases_of_list_and_dict_are_checked(fake: redis.Redis) -> None:
    assert types_check.compile_annotation(typing.List[int]).shown == "list[int]"  # type: ignore[union-attr]  # noqa: UP006
    assert types_check.compile_annotation(typing.Dict[str, bool]).shown == "dict[str, bool]"  # type: ignore[union-attr]  # noqa: UP006
    assert types_check.compile_annotation(dict[int, str]) is None  # not JSON's: left alone

"""`attempting` wraps an error with what was attempted; classification looks through the wrapper."""

from __future__ import annotations

import pytest

from resilience import Kind, OperationFailed, ambiguous, attempting, classify, transient


class IntegrityError(Exception):
    pass


def test_attempting_renders_what_for_whom_and_what_went_wrong() -> None:
    with (
        pytest.raises(OperationFailed) as caught,
        attempting("saving customer 42's preferences", customer_id=42, best_time="morning"),
    ):
        raise IntegrityError("duplicate key value violates unique constraint")

    error = caught.value
    assert str(error) == (
        "saving customer 42's preferences (customer_id=42, best_time='morning') failed: "
        "IntegrityError: duplicate key value violates unique constraint"
    )
    assert (error.operation, error.ids, error.remediation) == (
        "saving customer 42's preferences",
        {"customer_id": 42, "best_time": "morning"},
        None,
    )
    assert isinstance(error.__cause__, IntegrityError)


def test_attempting_redacts_secret_ids_and_names_the_remediation() -> None:
    with (
        pytest.raises(OperationFailed) as caught,
        attempting("calling the gateway", remediation="Rotate the key.", api_key="sk-live-1"),
    ):
        raise PermissionError("401")
    assert (
        str(caught.value)
        == "calling the gateway (api_key=[redacted]) failed: PermissionError: 401. Remediation: Rotate the key."
    )
    assert "sk-live-1" not in str(caught.value)


def test_attempting_as_a_decorator_fills_the_operation_from_the_arguments() -> None:
    @attempting("charging customer {customer_id}")
    def charge(customer_id: int, amount: int) -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(
        OperationFailed, match=r"^charging customer 42 failed: ConnectionRefusedError: refused$"
    ):
        charge(42, amount=10)


def test_attempting_passes_results_through_untouched() -> None:
    with attempting("adding"):
        total = 1 + 1
    assert total == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError("refused"), Kind.TRANSIENT),
        (TimeoutError("read timed out"), Kind.AMBIGUOUS),
        (ValueError("bad data"), Kind.PERMANENT),
        (OperationFailed("charging", cause=ConnectionRefusedError("x")), Kind.TRANSIENT),
        (OperationFailed("outer", cause=OperationFailed("inner", cause=TimeoutError())), Kind.AMBIGUOUS),
    ],
)
def test_classification_by_declared_types_looks_through_wrappers(
    error: BaseException, expected: Kind
) -> None:
    assert classify(error, retry_on=(ConnectionError,), ambiguous_on=(TimeoutError,)) is expected


def test_an_error_both_transient_and_ambiguous_by_inheritance_is_ambiguous() -> None:
    # TimeoutError is an OSError: declaring OSError transient does not make a timeout safe to retry.
    assert classify(TimeoutError(), retry_on=(OSError,), ambiguous_on=(TimeoutError,)) is Kind.AMBIGUOUS


def test_a_scoped_declaration_marks_only_errors_raised_in_its_block() -> None:
    def charge_then_mail(fail_in: str) -> None:
        with transient(ConnectionError):
            if fail_in == "charge":
                raise ConnectionError("gateway refused")
        if fail_in == "mailer":
            raise ConnectionError("mail server refused")

    errors = {}
    for where in ("charge", "mailer"):
        with pytest.raises(ConnectionError) as caught:
            charge_then_mail(where)
        errors[where] = caught.value

    # No class-level declaration at all: only the charge's ConnectionError is transient.
    assert classify(errors["charge"]) is Kind.TRANSIENT
    assert classify(errors["mailer"]) is Kind.PERMANENT


def test_a_scoped_ambiguous_beats_a_class_level_transient_declaration() -> None:
    with pytest.raises(ConnectionResetError) as caught, ambiguous(ConnectionResetError):
        raise ConnectionResetError("reset after the request was sent")
    assert classify(caught.value, retry_on=(ConnectionError,)) is Kind.AMBIGUOUS


def test_a_scoped_declaration_sees_through_a_wrapper_raised_inside_it() -> None:
    with (
        pytest.raises(OperationFailed) as caught,
        transient(ConnectionError),
        attempting("charging customer 1"),
    ):
        raise ConnectionRefusedError("refused")
    assert classify(caught.value) is Kind.TRANSIENT


def test_scoped_declarations_take_exception_classes() -> None:
    with (
        pytest.raises(TypeError, match=r"transient\(\) takes exception classes"),
        transient("ConnectionError"),
    ):  # type: ignore[arg-type]
        pass

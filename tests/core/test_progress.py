"""progress: the library reports long work through one callback type; no callback, no cost."""

from fastscnn_edge.core.progress import report


def test_report_calls_the_callback_or_nothing():
    seen = []
    report(lambda task, done, total: seen.append((task, done, total)), "export 64x128", 1, 3)
    report(None, "ignored", 1, 3)
    report(lambda *a: seen.append(a), "build", 0, None)  # total None: unknown
    assert seen == [("export 64x128", 1, 3), ("build", 0, None)]

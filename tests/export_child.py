"""Test files that load the export runtimes (onnxruntime, OpenVINO) run in a child pytest of their own
(tests/test_export_runtimes.py): in the suite's long-lived process, a fork after those runtimes had run and
after the engine's resume tests ended the whole run with SIGSEGV (reproduced: test_engine_resume.py, then
test_export_trace.py, then any test that starts a subprocess). The child runs them all and fails on any
failure; the suite's own process skips them (conftest.py)."""
IN_CHILD_ENV = "SEGSTUDIO_EXPORT_TESTS_IN_CHILD"
IN_CHILD_FILES = ("test_export_parity.py", "test_export_trace.py")

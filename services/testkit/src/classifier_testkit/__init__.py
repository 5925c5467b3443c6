"""Dev-only harness for the classifier: a local server on a free port (`server`), real photos
(`photos`), the default model artifact (`artifacts`) and the API calls tests share (`classify`).

Used by the service's tests, the benchmarks, the load tests and the drills; never installed in
the runtime image.
"""

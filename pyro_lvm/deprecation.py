"""Old names kept for one release after a rename, with a ``DeprecationWarning`` naming the new
one."""

import warnings

#: Renamed in 0.2.0 (the old names go in 0.3.0): what each name says now is what differs from
#: ``torch.utils.data.Dataset`` and Pyro's ``Trace_ELBO`` / ``TraceMeanField_ELBO``.
RENAMED = {"Dataset": "DataSplit", "TraceELBO": "DeviceTraceELBO",
           "TraceMeanFieldELBO": "DeviceTraceMeanFieldELBO"}


def module_getattr(namespace):
    """A module ``__getattr__`` that serves the old names of ``RENAMED`` found in
    ``namespace`` (the module's ``globals()``)."""
    def __getattr__(name):
        if name in RENAMED and RENAMED[name] in namespace:
            warnings.warn(f"{name} is deprecated and will be removed in pyro_lvm 0.3: use "
                          f"{RENAMED[name]}", DeprecationWarning, stacklevel=2)
            return namespace[RENAMED[name]]
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    return __getattr__

"""cxr_backup: the backup and restore programs of the cxr.mlops platform.

Run as ``python -m cxr_backup <command>`` (the backup CronJobs' image) or imported by the restore
drill and the tests. Commands: ``pg-backup``, ``pg-restore``, ``kube-backup``, ``appdata-backup``,
``prune``. Each prints one JSON document on stdout and exits non-zero with a one-line reason on
stderr when it fails (exit 3 for a corrupt backup).
"""

__version__ = "0.1.0"

@echo off
rem Start the monitor under the watchdog. Used by NSSM or Task Scheduler (docs/deploy.md).
rem Edit MTP to where you cloned mtponte.
set MTP=C:\mtponte
cd /d %MTP%
"%MTP%\.venv\Scripts\mtponte.exe" supervise --config "%MTP%\live.toml" --heartbeat "%MTP%\state\heartbeat" --stale-after 900 --max-restarts 5 --window 1800 -- "%MTP%\.venv\Scripts\mtponte.exe" live --config "%MTP%\live.toml"

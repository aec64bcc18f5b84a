@echo off
rem gridsync: start this computer's node and open its web app.
rem The node's files are in %APPDATA%\gridsync.
cd /d "%~dp0"
if not exist "%APPDATA%\gridsync\identity.key" (
  gridsync.exe init
  if errorlevel 1 goto failed
)
gridsync.exe ui
if errorlevel 1 goto failed
exit /b 0
:failed
echo.
echo gridsync did not start: see the message above (README-zh.txt / README-en.txt).
pause
exit /b 1

; The gridsync installer (Debian's nsis: makensis), for the current user
; (no administrator): the zip's files into %LOCALAPPDATA%\Programs\gridsync,
; a Start menu shortcut to start-gridsync.bat, and an uninstaller.
; makensis -DSTAGE=<zip's gridsync folder> -DOUT=<setup.exe> gridsync.nsi
Unicode true
Name "gridsync"
OutFile "${OUT}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\gridsync"
SetCompressor /SOLID lzma

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Section "gridsync"
  SetOutPath "$INSTDIR"
  File "${STAGE}\gridsync.exe"
  File "${STAGE}\start-gridsync.bat"
  File "${STAGE}\README-zh.txt"
  File "${STAGE}\README-en.txt"
  File /nonfatal /r "${STAGE}\locale"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "$SMPROGRAMS\gridsync"
  CreateShortcut "$SMPROGRAMS\gridsync\gridsync.lnk" "$INSTDIR\start-gridsync.bat" "" "$INSTDIR\gridsync.exe"
  CreateShortcut "$DESKTOP\gridsync.lnk" "$INSTDIR\start-gridsync.bat" "" "$INSTDIR\gridsync.exe"
SectionEnd

; The node's data (%APPDATA%\gridsync) is kept: it is the community's.
Section "Uninstall"
  Delete "$INSTDIR\gridsync.exe"
  Delete "$INSTDIR\start-gridsync.bat"
  Delete "$INSTDIR\README-zh.txt"
  Delete "$INSTDIR\README-en.txt"
  Delete "$INSTDIR\uninstall.exe"
  RMDir /r "$INSTDIR\locale"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\gridsync\gridsync.lnk"
  RMDir "$SMPROGRAMS\gridsync"
  Delete "$DESKTOP\gridsync.lnk"
SectionEnd

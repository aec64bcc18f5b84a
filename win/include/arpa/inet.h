/* Windows build (win/gs_win.h): the BSD socket names are Winsock's. */
#include <winsock2.h>
#include <ws2tcpip.h>

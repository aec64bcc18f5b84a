/* Windows build (win/gs_win.h): if_nametoindex/if_indextoname and
 * IF_NAMESIZE are iphlpapi's (netioapi.h). */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <netioapi.h>

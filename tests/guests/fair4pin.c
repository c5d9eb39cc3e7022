/* fair4pin: the fair4 guest with dom0_vcpus_pin (boot it so): get_physid
 * answers for each pinned vCPU. */
#define FAIR_NAME "fair4pin"
#define FAIR_PIN 1
#include "fair4.c"

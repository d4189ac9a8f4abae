/**
 * Serves Firecracker microVMs' snapshot memory: the handshake Firecracker sends on its page-fault
 * handler socket, and each VM's memory handed to anymap's page server.
 */
package dev.anymap.firecracker;

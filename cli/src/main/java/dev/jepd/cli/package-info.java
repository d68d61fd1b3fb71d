/**
 * The {@code jepd} command line (picocli): {@code generate}, {@code bench} and the serving commands. Each
 * command parses flags and calls one engine entry point; nothing here touches tensors.
 */
package dev.jepd.cli;

/**
 * File writing that readers on other nodes may race with: {@link dev.jepd.engine.io.AtomicFiles} is the one place a
 * file is written whole or not at all (EC entries, checkpoints, fixtures).
 */
package dev.jepd.engine.io;

package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ChunkTableTest {
    private static final int CHUNK = 64 << 10;

    @Test
    void presentBytesFollowEveryWayIntoAndOutOfPresentTheShortLastChunkCountedAsItsPages() {
        long mapped = 3L * CHUNK + 8192; // a last chunk of two pages
        ChunkTable table = new ChunkTable(mapped, CHUNK, "mem:test");
        assertEquals(4, table.chunks());
        assertTrue(table.want(0, ChunkTable.EMPTY));
        table.present(0);
        assertTrue(table.claim(3));
        table.present(3);
        table.present(3); // installed twice: counted once
        assertEquals(CHUNK + 8192, table.presentBytes());
        assertArrayEquals(new int[] {0, 3}, table.presentChunks());

        assertTrue(table.startEviction(0));
        assertFalse(table.startEviction(0), "already being dropped");
        assertEquals(8192, table.presentBytes());
        table.evicted(0);
        assertEquals(8192, table.presentBytes());

        table.failed(3); // a chunk that fails after all: no longer present
        assertEquals(0, table.presentBytes());
        assertTrue(table.want(3, ChunkTable.FAILED));
        table.present(3);
        table.reset(3);
        assertEquals(0, table.presentBytes());
        assertArrayEquals(new int[0], table.presentChunks());
    }
}

package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The JSON of Firecracker's handshake, as its versions send it, and as a hostile peer might. */
class HandshakeJsonTest {
    private static Optional<List<GuestRegionMapping>> parse(String json) {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        return HandshakeJson.parse(bytes, bytes.length);
    }

    private static String refused(String json) {
        return assertThrows(IllegalArgumentException.class, () -> parse(json)).getMessage();
    }

    @Test
    void currentFirecrackerSendsPageSizeInBytes() {
        String json = """
                [{"base_host_virt_addr":140213839020032,"size":268435456,"offset":0,"page_size":4096},
                 {"base_host_virt_addr":140214107455488,"size":2097152,"offset":268435456,"page_size":2097152}]""";
        assertEquals(Optional.of(List.of(new GuestRegionMapping(140213839020032L, 268435456L, 0, 4096),
                new GuestRegionMapping(140214107455488L, 2097152L, 268435456L, 2097152))), parse(json));
    }

    @Test
    void olderFirecrackerSendsPageSizeKibThatHoldsBytes() {
        String json = "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":4096,\"page_size_kib\":4096}]";
        assertEquals(Optional.of(List.of(new GuestRegionMapping(4096, 8192, 4096, 4096))), parse(json));
    }

    @Test
    void bothSpellingsAreTakenWhenTheyAgreeAndRefusedWhenNot() {
        assertEquals(Optional.of(List.of(new GuestRegionMapping(4096, 8192, 0, 4096))),
                parse("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096,\"page_size_kib\":4096}]"));
        String message = refused("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096,\"page_size_kib\":4}]");
        assertTrue(message.contains("page_size_kib of 4"), message);
    }

    @Test
    void fieldsAddedByLaterVersionsAreIgnored() {
        assertEquals(Optional.of(List.of(new GuestRegionMapping(4096, 8192, 0, 4096))),
                parse("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096,\"numa_node\":{\"id\":1}}]"));
    }

    @Test
    void aHandshakeInPiecesIsIncompleteUntilItsArrayCloses() {
        String json = "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096}]";
        for (int cut = 0; cut < json.length(); cut++) {
            assertEquals(Optional.empty(), parse(json.substring(0, cut)), "after " + cut + " bytes");
        }
        assertEquals(1, parse(json + "\n").orElseThrow().size());
    }

    @Test
    void textThatIsNotJsonIsRefusedSayingSo() {
        assertTrue(refused("hello, handler").contains("not JSON"));
        assertTrue(refused("[{\"size\": 12,,}]").contains("not JSON"));
    }

    @Test
    void anythingButANonEmptyArrayOfObjectsIsRefused() {
        assertTrue(refused("{\"size\": 1}").contains("not the array"), refused("{\"size\": 1}"));
        assertTrue(refused("[]").contains("no guest memory region"));
        assertTrue(refused("[42]").contains("region 0 of the handshake is not a JSON object"));
    }

    @Test
    void aMissingFieldIsNamed() {
        assertTrue(refused("[{\"size\":8192,\"offset\":0,\"page_size\":4096}]").contains("region 0 of the handshake has no base_host_virt_addr"));
        assertTrue(refused("[{\"base_host_virt_addr\":4096,\"offset\":0,\"page_size\":4096}]").contains("has no size"));
        assertTrue(refused("[{\"base_host_virt_addr\":4096,\"size\":8192,\"page_size\":4096}]").contains("has no offset"));
        String noPageSize = refused("[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0}]");
        assertTrue(noPageSize.contains("has no page_size (nor the older page_size_kib)"), noPageSize);
        assertTrue(refused("[{\"base_host_virt_addr\":4096,\"size\":null,\"offset\":0,\"page_size\":4096}]").contains("has no size"));
    }

    @Test
    void negativeFractionalQuotedAndHugeNumbersAreRefused() {
        String ok = "{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096}";
        for (String bad : List.of("-4096", "4096.5", "\"4096\"", "18446744073709551615", "true")) {
            String message = refused("[" + ok + ",{\"base_host_virt_addr\":65536,\"size\":8192,\"offset\":" + bad + ",\"page_size\":4096}]");
            assertTrue(message.contains("region 1 of the handshake has a offset of " + bad), message);
            assertTrue(message.contains("whole number of bytes"), message);
        }
    }

    @Test
    void aSecondValueAfterTheArrayIsRefused() {
        String one = "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096}]";
        assertTrue(refused(one + one).contains("goes on after its JSON array"));
    }
}

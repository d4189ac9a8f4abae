package dev.anymap.firecracker;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The JSON of Firecracker's handshake: an array of {@code GuestRegionUffdMapping} objects, each
 * with {@code base_host_virt_addr}, {@code size}, {@code offset} and {@code page_size} in bytes
 * (Firecracker before 1.10 sends {@code page_size_kib} instead, which holds bytes too, in spite of
 * its name). Fields Firecracker may add later are ignored.
 */
final class HandshakeJson {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private HandshakeJson() {}

    /**
     * The regions in {@code length} bytes of {@code json}; empty if they are the beginning of a JSON
     * value still on its way, as a stream socket may hand a message over in pieces.
     *
     * @throws IllegalArgumentException if the bytes are not such an array, or go on past it
     */
    static Optional<List<GuestRegionMapping>> parse(byte[] json, int length) {
        if (!complete(json, length)) {
            return Optional.empty();
        }
        JsonNode root;
        try (JsonParser parser = MAPPER.createParser(json, 0, length)) {
            root = MAPPER.readTree(parser);
            if (parser.nextToken() != null) {
                throw new IllegalArgumentException("the handshake goes on after its JSON array; Firecracker sends one array and nothing else");
            }
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the handshake is not JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new IllegalStateException("reading JSON from memory", e);
        }
        if (!root.isArray()) {
            throw new IllegalArgumentException("the handshake is a JSON " + root.getNodeType().name().toLowerCase(java.util.Locale.ROOT)
                    + ", not the array of guest memory regions Firecracker sends");
        }
        if (root.isEmpty()) {
            throw new IllegalArgumentException("the handshake names no guest memory region");
        }
        List<GuestRegionMapping> regions = new ArrayList<>(root.size());
        for (int i = 0; i < root.size(); i++) {
            regions.add(region(root.get(i), i));
        }
        return Optional.of(regions);
    }

    /**
     * Whether the bytes hold a whole JSON value: its tokens, up to the one that closes it, all there.
     * Read by the non-blocking parser, which tells a value cut short from a wrong one wherever the cut.
     */
    private static boolean complete(byte[] json, int length) {
        try (JsonParser parser = MAPPER.getFactory().createNonBlockingByteArrayParser()) {
            ((ByteArrayFeeder) parser.getNonBlockingInputFeeder()).feedInput(json, 0, length);
            int depth = 0;
            for (JsonToken token; (token = parser.nextToken()) != JsonToken.NOT_AVAILABLE; ) {
                if (token.isStructStart()) {
                    depth++;
                } else if (token.isStructEnd()) {
                    depth--;
                }
                if (depth == 0) {
                    return true;
                }
            }
            return false;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the handshake is not JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new IllegalStateException("reading JSON from memory", e);
        }
    }

    private static GuestRegionMapping region(JsonNode node, int index) {
        if (!node.isObject()) {
            throw new IllegalArgumentException("region " + index + " of the handshake is not a JSON object but " + node);
        }
        long address = number(node, "base_host_virt_addr", index);
        long size = number(node, "size", index);
        long offset = number(node, "offset", index);
        boolean bytes = node.has("page_size");
        boolean deprecated = node.has("page_size_kib");
        if (!bytes && !deprecated) {
            throw new IllegalArgumentException("region " + index + " of the handshake has no page_size (nor the older page_size_kib)");
        }
        long pageSize = bytes ? number(node, "page_size", index) : number(node, "page_size_kib", index);
        if (bytes && deprecated && number(node, "page_size_kib", index) != pageSize) {
            throw new IllegalArgumentException("region " + index + " of the handshake has a page_size of " + pageSize
                    + " and a page_size_kib of " + number(node, "page_size_kib", index) + "; both hold bytes, so they must agree");
        }
        return new GuestRegionMapping(address, size, offset, pageSize);
    }

    /** A field that Firecracker sends as a u64: a whole number from 0 to 2^63 - 1 here, as no address or size goes past that. */
    private static long number(JsonNode region, String field, int index) {
        JsonNode value = region.get(field);
        if (value == null || value.isNull()) {
            throw new IllegalArgumentException("region " + index + " of the handshake has no " + field);
        }
        if (!value.isIntegralNumber() || !value.canConvertToLong() || value.asLong() < 0) {
            throw new IllegalArgumentException("region " + index + " of the handshake has a " + field + " of " + value
                    + "; it must be a whole number of bytes from 0 to " + Long.MAX_VALUE);
        }
        return value.asLong();
    }
}

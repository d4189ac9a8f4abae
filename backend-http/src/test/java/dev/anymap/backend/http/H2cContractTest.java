package dev.anymap.backend.http;

class H2cContractTest extends HttpContractTest {
    @Override
    TestServer.Mode mode() {
        return TestServer.Mode.H2C;
    }
}

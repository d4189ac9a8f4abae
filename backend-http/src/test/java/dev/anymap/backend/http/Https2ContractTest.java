package dev.anymap.backend.http;

class Https2ContractTest extends HttpContractTest {
    @Override
    TestServer.Mode mode() {
        return TestServer.Mode.HTTPS_2;
    }
}

/*
 * Keep Adobe's Target Java SDK (com.adobe.target:target-java-sdk, 2.x) on offerd.
 *
 * Why a proxy: the SDK builds every Delivery API URL from a domain suffix
 * (ClientConfig.getUrl: "<client>." + serverDomain, or "mboxedge<N>." + serverDomain once it
 * knows an edge cluster N). It learns N from a request's mboxEdgeCluster cookie or
 * locationHint, and from the tntId ("<id>.<N>_0") of its first answer, which it then keeps
 * for every later call of the client (DefaultTargetService.updateStickyLocationHint). A
 * request interceptor cannot move a call, as the Apache client has chosen the route by then;
 * but the SDK hands `proxyConfig` to both its sync and its async Apache client
 * (ApacheClientFactory), and over plain http a proxy receives every request in absolute form
 * ("POST http://mboxedge35.tt.omtrdc.net/rest/v1/delivery?..."), which offerd serves as
 * /rest/v1/delivery. So: offerd as the proxy, `secure(false)`, and no call goes elsewhere.
 * (With https the client would ask the proxy for a CONNECT tunnel, which offerd does not
 * offer; keep TLS, if needed, between the clients and a proxy in front of offerd.)
 *
 * The other way: `serverDomain("offerd.internal")` keeps every host under a domain you own
 * (targettesting.offerd.internal, mboxedge35.offerd.internal), for DNS to resolve, wildcard
 * included, to offerd.
 *
 * Run (offerd serving its demo on 127.0.0.1:8080, the SDK and its dependencies on the
 * classpath):
 *   javac -cp "$CP" OfferdTargetClient.java && java -cp "$CP:." OfferdTargetClient 127.0.0.1 8080
 */

import com.adobe.target.delivery.v1.model.Address;
import com.adobe.target.delivery.v1.model.ChannelType;
import com.adobe.target.delivery.v1.model.Context;
import com.adobe.target.delivery.v1.model.ExecuteRequest;
import com.adobe.target.delivery.v1.model.MboxRequest;
import com.adobe.target.edge.client.ClientConfig;
import com.adobe.target.edge.client.ClientProxyConfig;
import com.adobe.target.edge.client.TargetClient;
import com.adobe.target.edge.client.model.TargetDeliveryRequest;
import com.adobe.target.edge.client.model.TargetDeliveryResponse;
import java.util.List;

public final class OfferdTargetClient {
  private OfferdTargetClient() {}

  /** A Target client whose every Delivery API call, edge clusters included, goes to offerd. */
  public static TargetClient create(String client, String organizationId, String offerdHost, int offerdPort) {
    ClientConfig config =
        ClientConfig.builder()
            .client(client)
            .organizationId(organizationId)
            .secure(false) // absolute-form requests to the proxy, not CONNECT tunnels
            .proxyConfig(new ClientProxyConfig(offerdHost, offerdPort))
            .build();
    return TargetClient.create(config);
  }

  public static void main(String[] args) throws Exception {
    String host = args.length > 0 ? args[0] : "127.0.0.1";
    int port = args.length > 1 ? Integer.parseInt(args[1]) : 8080;
    try (TargetClient target = create("demo", "DEMO00000000000000000000@AdobeOrg", host, port)) {
      TargetDeliveryRequest request =
          TargetDeliveryRequest.builder()
              .locationHint("35") // edge cluster 35: without the proxy, mboxedge35.tt.omtrdc.net
              .context(
                  new Context().channel(ChannelType.WEB).address(new Address().url("https://shop.example.com/")))
              .execute(new ExecuteRequest().mboxes(List.of(new MboxRequest().name("hero-banner").index(1))))
              .build();
      TargetDeliveryResponse response = target.getOffers(request);
      System.out.println(response.getStatus() + " " + response.getResponse().getExecute());
    }
  }
}

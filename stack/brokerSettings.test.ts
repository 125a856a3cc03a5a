import { describe, expect, it } from 'vitest'
import {
  clusterPolicy,
  dockerEnv,
  scramFormatArgs,
  serverProperties,
  type BrokerNode,
  type BrokerSecurity,
} from './brokerSettings.js'

const node = (nodeId: number): BrokerNode => ({
  nodeId,
  host: '127.0.0.1',
  port: 19091 + nodeId,
  controllerHost: '127.0.0.1',
  controllerPort: 19191 + nodeId,
})

describe('broker settings', () => {
  it('replicate the internal topics three times with min ISR 2 on three brokers, once on one', () => {
    expect(clusterPolicy(3)).toMatchObject({
      'default.replication.factor': '3',
      'min.insync.replicas': '2',
      'offsets.topic.replication.factor': '3',
      'transaction.state.log.replication.factor': '3',
      'transaction.state.log.min.isr': '2',
      'unclean.leader.election.enable': 'false',
    })
    expect(clusterPolicy(1)).toMatchObject({
      'offsets.topic.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
      'min.insync.replicas': '1',
    })
  })

  it('give every node the whole static quorum and its own id and listeners', () => {
    const nodes = [node(1), node(2), node(3)]
    const props = serverProperties(nodes, node(2), '/data/2')
    expect(props).toContain('node.id=2\n')
    expect(props).toContain('controller.quorum.voters=1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194\n')
    expect(props).toContain('listeners=PLAINTEXT://127.0.0.1:19093,CONTROLLER://127.0.0.1:19193\n')
    expect(props).toContain('log.dirs=/data/2\n')
  })

  it('secure the client listener: SASL_SSL for clients and between brokers, the controller left on 127.0.0.1', () => {
    const security: BrokerSecurity = {
      keystoreFile: '/tls/broker.p12',
      truststoreFile: '/tls/truststore.p12',
      storePassword: 'store-pw',
      caFile: '/tls/ca.pem',
      admin: { name: 'admin', password: 'admin-pw' },
      users: [{ name: 'xrc-mover', password: 'mover-pw' }],
      authorizer: true,
      clientAuth: 'none',
    }
    const props = serverProperties([node(1)], node(1), '/data/1', security)
    expect(props).toContain('listeners=SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19192\n')
    expect(props).toContain('advertised.listeners=SASL_SSL://127.0.0.1:19092\n')
    expect(props).toContain('inter.broker.listener.name=SASL_SSL\n')
    expect(props).toContain('listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL\n')
    expect(props).toContain('sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN\n')
    expect(props).toMatch(/scram-sha-512\.sasl\.jaas\.config=.*ScramLoginModule required username="admin"/)
    expect(props).toMatch(/plain\.sasl\.jaas\.config=.*user_admin="admin-pw" user_xrc-mover="mover-pw";/)
    expect(props).toContain('authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n')
    expect(props).toContain('super.users=User:admin;User:ANONYMOUS\n')
    expect(props).not.toMatch(/PLAINTEXT:\/\//)
    expect(serverProperties([node(1)], node(1), '/d', { ...security, authorizer: false })).not.toContain('authorizer')
    expect(scramFormatArgs(security)).toEqual([
      '--add-scram',
      'SCRAM-SHA-512=[name=admin,password=admin-pw]',
      '--add-scram',
      'SCRAM-SHA-512=[name=xrc-mover,password=mover-pw]',
    ])
    // a quote or comma would end the JAAS value or the StorageTool argument early
    expect(() => scramFormatArgs({ ...security, users: [{ name: 'x', password: 'a",b' }] })).toThrow(/SCRAM user "x"/)
  })

  it("name the settings as the apache/kafka image's environment", () => {
    expect(dockerEnv({ 'log.dirs': '/x', 'a_b-c.d': '1' })).toEqual({ KAFKA_LOG_DIRS: '/x', KAFKA_A__B___C_D: '1' })
  })
})

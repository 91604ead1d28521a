/**
 * The NodeMembership CustomResourceDefinition, derived from the zod schemas the
 * programs validate with (./convert.ts), so that `crds/` can never drift from
 * the code, and checked against the API server's rules for a structural
 * schema (./structural.ts) before it is written (./generate.ts).
 */
import { API_VERSION } from '../common.js';
import { nodeMembershipSpec } from '../node-membership.js';
import { nodeMembershipStatus, type ConditionType } from '../status.js';
import { zodToStructural } from './convert.js';
import type { SchemaNode } from './schema-node.js';
import { structuralViolations } from './structural.js';

const [GROUP = '', VERSION = ''] = API_VERSION.split('/');
/** API group of the resource; taken from API_VERSION so the records and the CRD agree. */
export const CRD_GROUP = GROUP;
export const CRD_VERSION = VERSION;
export const CRD_KIND = 'NodeMembership';
export const CRD_PLURAL = 'nodememberships';
export const CRD_NAME = `${CRD_PLURAL}.${CRD_GROUP}`;

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  /** 0: `kubectl get` shows it; 1 and more: only `-o wide`. */
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[] };
    scope: 'Cluster' | 'Namespaced';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: SchemaNode };
    }>;
  };
}

function withDescription(node: SchemaNode, description: string): SchemaNode {
  // A description set in zod wins over this one.
  return { description, ...node };
}

/**
 * Conditions are a list keyed by type, as Kubernetes' own (metav1.Condition):
 * a server-side apply merges them per type instead of replacing the list.
 */
function conditionsAsMap(status: SchemaNode): SchemaNode {
  const properties = status.properties as Record<string, SchemaNode>;
  const conditions = properties.conditions;
  if (conditions === undefined) throw new Error('the status schema has no conditions');
  return {
    ...status,
    properties: { ...properties, conditions: { ...conditions, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] } },
  };
}

/** A column showing one condition's status, as `kubectl get` shows Ready. */
function conditionColumn(name: string, type: ConditionType, description: string, priority = 0): PrinterColumn {
  return { name, type: 'string', jsonPath: `.status.conditions[?(@.type=="${type}")].status`, description, ...(priority ? { priority } : {}) };
}

/** Printer columns: the spec, the phase, one column per service's condition, the reason on -o wide. */
export const PRINTER_COLUMNS: PrinterColumn[] = [
  { name: 'Role', type: 'string', jsonPath: '.spec.role' },
  { name: 'State', type: 'string', jsonPath: '.spec.state' },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  conditionColumn('Chainfire', 'ChainfireMember', 'ChainfireMember: the node is a member of Chainfire as its spec asks'),
  conditionColumn('FlareDB', 'FlareDBMember', 'FlareDBMember: the node is a member of FlareDB'),
  conditionColumn('IAM', 'IAMRegistered', 'IAMRegistered: the node is registered in IAM'),
  conditionColumn('Agent', 'AgentReady', "AgentReady: the node's first-boot agent is reporting", 1),
  {
    name: 'Reason',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    description: 'why the node is or is not Ready',
    priority: 1,
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

export function buildNodeMembershipSchema(): SchemaNode {
  const spec = withDescription(
    zodToStructural(nodeMembershipSpec),
    'Desired membership of one node in Chainfire, FlareDB and IAM. A service block present means the node should be a member of that service; absent means it should not.',
  );
  const status = withDescription(
    conditionsAsMap(zodToStructural(nodeMembershipStatus.shape.status)),
    'What the membership controller observed and did for this node. Written only by the leader.',
  );
  return {
    description:
      'NodeMembership is the desired membership record of one PhotonCloud node. metadata.name is the node name (a DNS-1123 label).',
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: {
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.',
        type: 'string',
      },
      kind: {
        description:
          'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to.',
        type: 'string',
      },
      // The API server validates ObjectMeta itself; a CRD may not describe it further.
      metadata: { type: 'object' },
      spec,
      status,
    },
  };
}

export function buildNodeMembershipCrd(): CustomResourceDefinition {
  const openAPIV3Schema = buildNodeMembershipSchema();
  const violations = structuralViolations(openAPIV3Schema);
  if (violations.length > 0) {
    throw new Error(`the generated NodeMembership schema is not structural:\n  ${violations.join('\n  ')}`);
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: CRD_GROUP,
      names: {
        kind: CRD_KIND,
        listKind: `${CRD_KIND}List`,
        plural: CRD_PLURAL,
        singular: CRD_KIND.toLowerCase(),
        shortNames: ['nm'],
      },
      scope: 'Cluster',
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS,
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

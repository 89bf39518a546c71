/* The process editor's library bundle (built by `make vendor` with esbuild into
 * webapp/static/vendor/editor/): the bpmn-js Modeler with the properties panel and its
 * Camunda Platform 7 provider, which is what warmflow's diagrams use (candidate groups,
 * form fields, due dates, timers, conditions, called processes). It only exposes a
 * factory; the page's own logic lives in webapp/static/editor.js.
 *
 * Two things are warmflow's own here:
 * - a `translate` service (bpmn-js's i18n hook, which the properties panel uses too):
 *   Chinese for the palette, the menus and the panel; in English the Camunda help texts
 *   about `${...}` expressions are replaced by warmflow's (editor-i18n.js);
 * - a properties provider that runs after Camunda's and keeps only the sections warmflow
 *   reads (names, candidate groups and due dates, form fields, conditions, timers,
 *   called processes, scripts), with warmflow's own help on their values. */
import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
  useService
} from 'bpmn-js-properties-panel';
import { Group, TextFieldEntry, isTextFieldEntryEdited } from '@bpmn-io/properties-panel';
import { jsx } from '@bpmn-io/properties-panel/preact/jsx-runtime';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';
import { EN, ZH } from './editor-i18n';

// --- translate ------------------------------------------------------------------------

function makeTranslate(dictionary, missing) {
  return function translate(template, replacements) {
    var known = Object.prototype.hasOwnProperty.call(dictionary, template);
    if (!known && missing) {
      missing[template] = true;
    }
    var text = known ? dictionary[template] : template;
    replacements = replacements || {};
    return text.replace(/{([^}]+)}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(replacements, key) ? replacements[key] : whole;
    });
  };
}

// --- the sections warmflow uses ---------------------------------------------------------

// Group id → the entries kept (null: all of them), in the order shown.
var KEEP = {
  general: ['name', 'id', 'processName', 'processId'],
  CamundaPlatform__UserAssignment: ['candidateGroups', 'dueDate'],
  CamundaPlatform__FormData: null,
  warmflow__AddForm: null,
  CamundaPlatform__Condition: null,
  timer: null,
  CamundaPlatform__CallActivity: null,
  CamundaPlatform__Script: null
};
var ORDER = Object.keys(KEEP);
var HELP = {
  candidateGroups: 'warmflow.candidateGroups',
  conditionExpression: 'warmflow.condition',
  scriptValue: 'warmflow.script'
};

// The called process by its id: warmflow pins the called version itself, so the
// Camunda choices (BPMN or CMMN, binding, version, tenant, business key) do not apply.
function CalledProcess(props) {
  var element = props.element;
  var modeling = useService('modeling');
  var translate = useService('translate');
  var debounce = useService('debounceInput');
  return TextFieldEntry({
    element: element,
    id: 'calledElement',
    label: translate('Called process'),
    description: translate('warmflow.calledElement'),
    getValue: function () {
      return getBusinessObject(element).get('calledElement') || '';
    },
    setValue: function (value) {
      modeling.updateProperties(element, { calledElement: value || undefined });
    },
    debounce: debounce
  });
}

// The timer's value with warmflow's help in place of Camunda's ISO 8601 tooltip.
function TimerValue(props) {
  var element = props.element;
  var definition = props.timerEventDefinition;
  var type = props.timerEventDefinitionType;
  var commandStack = useService('commandStack');
  var translate = useService('translate');
  var debounce = useService('debounceInput');
  var expression = definition.get(type);
  return TextFieldEntry({
    element: element,
    id: 'timerEventDefinitionValue',
    label: translate('Value'),
    description: translate('warmflow.timer.' + type),
    getValue: function () {
      return expression && expression.get('body');
    },
    setValue: function (value) {
      commandStack.execute('element.updateModdleProperties', {
        element: element,
        moddleElement: expression,
        properties: { body: value }
      });
    },
    debounce: debounce
  });
}

// A user task (or a process's start event) without a form yet: one button gives it an
// empty camunda:formData, whose 表单字段 list then appears. Camunda's own way to this is
// its 表单 type select, which is not shown: switching it would drop the fields.
function hasForm(element) {
  var extensions = getBusinessObject(element).get('extensionElements');
  return !!(extensions && extensions.get('values').some(function (value) {
    return is(value, 'camunda:FormData');
  }));
}

function takesForm(element) {
  return is(element, 'bpmn:UserTask') ||
    (is(element, 'bpmn:StartEvent') && element.parent && is(element.parent, 'bpmn:Process'));
}

function AddForm(props) {
  var element = props.element;
  var bpmnFactory = useService('bpmnFactory');
  var commandStack = useService('commandStack');
  var translate = useService('translate');

  function add() {
    var businessObject = getBusinessObject(element);
    var commands = [];
    var extensions = businessObject.get('extensionElements');
    if (!extensions) {
      extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
      extensions.$parent = businessObject;
      commands.push({
        cmd: 'element.updateModdleProperties',
        context: {
          element: element,
          moddleElement: businessObject,
          properties: { extensionElements: extensions }
        }
      });
    }
    var formData = bpmnFactory.create('camunda:FormData', { fields: [] });
    formData.$parent = extensions;
    commands.push({
      cmd: 'element.updateModdleProperties',
      context: {
        element: element,
        moddleElement: extensions,
        properties: { values: extensions.get('values').concat([formData]) }
      }
    });
    commandStack.execute('properties-panel.multi-command-executor', commands);
  }

  return jsx('div', {
    class: 'bio-properties-panel-entry',
    'data-entry-id': 'warmflowAddForm',
    children: jsx('button', {
      type: 'button',
      class: 'wf-add-form',
      onClick: add,
      children: translate('warmflow.addForm')
    })
  });
}

function keptEntries(group) {
  var keep = KEEP[group.id];
  if (!group.entries) {
    return group;
  }
  if (group.id === 'CamundaPlatform__CallActivity') {
    group.entries = [
      { id: 'calledElement', component: CalledProcess, isEdited: isTextFieldEntryEdited }
    ];
    return group;
  }
  if (keep) {
    group.entries = keep
      .map(function (id) {
        return group.entries.filter(function (entry) { return entry.id === id; })[0];
      })
      .filter(Boolean);
  }
  group.entries.forEach(function (entry) {
    if (entry.id === 'timerEventDefinitionValue') {
      entry.component = TimerValue;
    }
  });
  return group;
}

function WarmflowPanel(propertiesPanel, translate) {
  // Below Camunda's priority (500): it runs after it and sees the groups it added.
  propertiesPanel.registerProvider(100, this);
  this._translate = translate;
}
WarmflowPanel.$inject = ['propertiesPanel', 'translate'];

WarmflowPanel.prototype.getGroups = function (element) {
  var translate = this._translate;
  return function (groups) {
    if (takesForm(element) && !hasForm(element)) {
      groups = groups.concat([{
        id: 'warmflow__AddForm',
        label: translate('Form fields'),
        component: Group,
        entries: [{ id: 'warmflowAddForm', component: AddForm }]
      }]);
    }
    return groups
      .filter(function (group) { return Object.prototype.hasOwnProperty.call(KEEP, group.id); })
      .map(keptEntries)
      .filter(function (group) { return !group.entries || group.entries.length; })
      .sort(function (a, b) { return ORDER.indexOf(a.id) - ORDER.indexOf(b.id); });
  };
};

var WarmflowPanelModule = {
  __init__: ['warmflowPanel'],
  warmflowPanel: ['type', WarmflowPanel]
};

// --- the factory ------------------------------------------------------------------------

window.WarmflowModeler = {
  // Strings the panel or menus asked for that the Chinese dictionary lacks (tests read it).
  untranslated: {},
  create: function (canvas, panel, additionalModules, options) {
    var english = ((options && options.locale) || '').indexOf('en') === 0;
    var translate = english ? makeTranslate(EN) : makeTranslate(ZH, this.untranslated);
    // Help under entries that bring none of their own (the panel calls each with the
    // selected element).
    var description = {};
    Object.keys(HELP).forEach(function (entry) {
      var text = translate(HELP[entry]);
      description[entry] = function () {
        return text;
      };
    });
    return new BpmnModeler({
      container: canvas,
      propertiesPanel: { parent: panel, description: description },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        CamundaPlatformPropertiesProviderModule,
        CamundaBehaviorsModule,
        WarmflowPanelModule,
        { translate: ['value', translate] }
      ].concat(additionalModules || []),
      moddleExtensions: { camunda: camundaModdle }
    });
  }
};

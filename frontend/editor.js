/* The process editor's library bundle (built by `make vendor` with esbuild into
 * webapp/static/vendor/editor/): the bpmn-js Modeler with the properties panel and its
 * Camunda Platform 7 provider, which is what warmflow's diagrams use (candidate groups,
 * form fields, due dates, timers, conditions, called processes). It only exposes a
 * factory; the page's own logic lives in webapp/static/editor.js. */
import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

window.WarmflowModeler = {
  create: function (canvas, panel, additionalModules) {
    return new BpmnModeler({
      container: canvas,
      propertiesPanel: { parent: panel },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        CamundaPlatformPropertiesProviderModule,
        CamundaBehaviorsModule
      ].concat(additionalModules || []),
      moddleExtensions: { camunda: camundaModdle }
    });
  }
};
